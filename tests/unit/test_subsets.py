"""Formats, token budgets, seeds, mixtures and their errors, with a word-level tokenizer."""

from __future__ import annotations

import hashlib

import pandas as pd
import pyarrow.parquet as pq
import pytest

from dataalign.data.sources import load_rows
from dataalign.data.subsets import (
    Part,
    build_subset,
    count_tokens,
    draw_examples,
    format_examples,
    subset_tokens,
    write_subset,
)
from dataalign.errors import DamagedFileError, DatasetError
from dataalign.io import read_parquet, write_parquet

ROWS = pd.DataFrame({"row": [0, 1, 2], "a": ["x y", "", "z"], "b": ["1 2 3", "4", " "]})


@pytest.fixture(scope="module")
def pairs(fixture_data) -> pd.DataFrame:
    source = {"path": str(fixture_data["pairs"]), "format": None, "separator": "\n"}
    return load_rows("pairs", ["informal", "formal"], local=source)


def test_text_format_takes_one_field_and_drops_empty():
    examples = format_examples(ROWS, ["a"], "text")
    assert examples.to_dict("list") == {"row": [0, 2], "text": ["x y", "z"]}


def test_pair_format_fills_template_by_field_name():
    examples = format_examples(ROWS, ["a", "b"], "pair", "Q: {a} A: {b}")
    assert examples["text"].tolist() == ["Q: x y A: 1 2 3", "Q:  A: 4", "Q: z A:  "]
    default = format_examples(ROWS, ["a", "b"], "pair")
    assert default["text"][0] == "x y\n1 2 3"


def test_split_format_makes_each_field_its_own_example_in_row_order():
    examples = format_examples(ROWS, ["a", "b"], "split")
    assert examples.to_dict("list") == {"row": [0, 0, 1, 2], "text": ["x y", "1 2 3", "4", "z"]}


def test_budget_is_exact_kept_fit_and_next_would_not(pairs, tokenizer):
    examples = format_examples(pairs, ["informal", "formal"], "pair", "{informal} is {formal}")
    first = draw_examples("pairs", examples, tokenizer, budget=100, seed=0)
    second = draw_examples("pairs", examples, tokenizer, budget=100, seed=1)
    assert first["n_tokens"].sum() <= 100
    assert first["n_tokens"].sum() + second["n_tokens"].iloc[0] > 100
    # n_tokens is a real count: the word tokenizer gives one token per word.
    assert first["n_tokens"].tolist() == [len(t.split()) for t in first["text"]]
    assert (count_tokens(tokenizer, first["text"]) == first["n_tokens"].to_numpy()).all()


def test_different_seeds_are_disjoint_draws(pairs, tokenizer):
    examples = format_examples(pairs, ["informal", "formal"], "pair")
    draws = [set(draw_examples("p", examples, tokenizer, 150, seed)["row"]) for seed in range(4)]
    for i in range(4):
        for j in range(i + 1, 4):
            assert not draws[i] & draws[j]


def test_same_seed_writes_byte_identical_files(pairs, tokenizer, tmp_path):
    digests = []
    for run in range(2):
        part = Part("pairs", pairs.copy(), ["informal", "formal"], "split")
        path = tmp_path / f"run{run}.parquet"
        write_parquet(build_subset([part], tokenizer, 200, seed=1), path)
        digests.append(hashlib.sha256(path.read_bytes()).hexdigest())
    assert digests[0] == digests[1]


def test_shuffle_seed_changes_the_draw(pairs, tokenizer):
    examples = format_examples(pairs, ["formal"], "text")
    a = draw_examples("p", examples, tokenizer, 80, shuffle_seed=0)
    b = draw_examples("p", examples, tokenizer, 80, shuffle_seed=1)
    assert a["row"].tolist() != b["row"].tolist()


def test_mixture_draws_each_part_its_weighted_share(pairs, fixture_data, tokenizer):
    source = {"path": str(fixture_data["prose"]), "format": None, "separator": "\n\n"}
    prose = load_rows("prose", ["text"], local=source)
    parts = [
        Part("pairs", pairs, ["informal", "formal"], "pair", weight=1),
        Part("prose", prose, ["text"], weight=3),
    ]
    subset = build_subset(parts, tokenizer, budget=800, seed=0)
    share = subset.groupby("dataset")["n_tokens"].sum() / subset["n_tokens"].sum()
    assert share["pairs"] == pytest.approx(0.25, abs=0.03)
    assert share["prose"] == pytest.approx(0.75, abs=0.03)
    assert subset["n_tokens"].sum() <= 800
    # the parts are interleaved, not concatenated
    assert subset["dataset"].iloc[: len(subset) // 2].nunique() == 2


def test_all_budget_keeps_every_example(pairs, tokenizer):
    examples = format_examples(pairs, ["informal", "formal"], "split")
    subset = draw_examples("p", examples, tokenizer, budget=None)
    assert sorted(subset["text"]) == sorted(examples["text"])


def test_overlong_examples_are_skipped_not_truncated(tokenizer):
    examples = pd.DataFrame({"row": [0, 1, 2], "text": ["a " * 50, "b c", "d e f"]})
    subset = draw_examples("long", examples, tokenizer, budget=5)
    assert sorted(subset["row"]) == [1, 2]


def test_too_few_tokens_names_dataset_and_shortfall(pairs, tokenizer):
    examples = format_examples(pairs, ["formal"], "text")
    total = int(count_tokens(tokenizer, examples["text"]).sum())
    with pytest.raises(
        DatasetError,
        match=rf"dataset 'pairs': draw 0 needs {total + 10} tokens "
        rf"but only {total} remain \(shortfall 10 tokens",
    ):
        draw_examples("pairs", examples, tokenizer, budget=total + 10)
    with pytest.raises(DatasetError, match=r"draw 5 needs .* after draws 0-4"):
        draw_examples("pairs", examples, tokenizer, budget=total // 4, seed=5)


def test_empty_examples_are_an_error(tokenizer):
    rows = pd.DataFrame({"row": [0, 1], "text": ["  ", ""]})
    with pytest.raises(DatasetError, match="dataset 'blank' has no non-empty examples"):
        build_subset([Part("blank", rows, ["text"])], tokenizer, 10)


def test_blank_examples_are_named_with_a_fix(tokenizer):
    rows = pd.DataFrame({"row": [0, 1], "body": ["  ", "\n"]})
    with pytest.raises(
        DatasetError,
        match=r"every value of its fields is blank \(empty or whitespace\). Fix: name the "
        r"columns that hold the text in datasets.blank.fields",
    ):
        build_subset([Part("blank", rows, ["body"])], tokenizer, 10)


def test_a_draw_well_short_of_its_budget_says_so(tokenizer, caplog):
    """Six-token examples fill a 10-token budget only to 6: the log says the draw is short."""
    rows = pd.DataFrame({"row": range(4), "text": ["a b c d e f"] * 4})
    assert build_subset([Part("gappy", rows, ["text"])], tokenizer, 10)["n_tokens"].sum() == 6
    assert "gappy: draw 0 holds 6 of its 10 tokens (40% short)" in caplog.text
    caplog.clear()
    full = pd.DataFrame({"row": range(12), "text": ["w"] * 12})
    build_subset([Part("full", full, ["text"])], tokenizer, 10)
    assert "short)" not in caplog.text


def test_a_token_file_from_another_run_is_refused(pairs, tokenizer, tmp_path):
    written = {}
    for budget in (200, 300):
        part = Part("pairs", pairs.copy(), ["informal", "formal"], "split")
        paths = tmp_path / f"{budget}.parquet", tmp_path / f"{budget}.tokens.npy"
        write_subset([part], tokenizer, budget, 0, *paths)
        written[budget] = paths
    subset, tokens = written[200]
    assert len(subset_tokens(tokens, subset)) == pq.read_metadata(subset).num_rows + sum(
        read_parquet(subset)["n_tokens"]
    )
    other = written[300][1]
    message = f"{other} holds .+ token ids but {subset} was written with .+: the two come from"
    with pytest.raises(DamagedFileError, match=message):
        subset_tokens(other, subset)
