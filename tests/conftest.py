"""Fixtures shared by tests/unit (the library) and tests/workflow (dry-runs, end-to-end runs):
fixture corpora, a word-level tokenizer built on the fly and a tiny random GPT-2."""

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


@pytest.fixture(scope="session")
def tiny_lm_dir(tmp_path_factory: pytest.TempPathFactory, tokenizer_dir: Path) -> Path:
    """A 2-layer random GPT-2 over the word tokenizer, saved like any pretrained model."""
    import shutil

    import torch
    from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel

    folder = tmp_path_factory.mktemp("tiny_lm")
    for item in tokenizer_dir.iterdir():
        shutil.copy(item, folder / item.name)
    torch.manual_seed(0)
    vocab = len(AutoTokenizer.from_pretrained(tokenizer_dir))
    config = GPT2Config(n_layer=2, n_head=2, n_embd=32, n_positions=64, vocab_size=vocab)
    GPT2LMHeadModel(config).save_pretrained(folder)
    return folder


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that reads a real pipeline run is slow: `-m "not slow"` stays a quick loop."""
    for item in items:
        if "pipeline_run" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)
