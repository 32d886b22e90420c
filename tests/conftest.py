"""Session fixtures: fixture corpora and a word-level tokenizer built on the fly."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import PROSE, WORDS, build_word_tokenizer, write_fixture_data


@pytest.fixture(scope="session")
def fixture_data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_fixture_data(tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="session")
def tokenizer_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    corpus = [" ".join(WORDS), " ".join(PROSE), "informal statement formal"]
    return build_word_tokenizer(tmp_path_factory.mktemp("tokenizer"), corpus)


@pytest.fixture(scope="session")
def tokenizer(tokenizer_dir: Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tokenizer_dir)
