"""What every alignment metric shares: the table's columns, the pair bootstrap, the matrix
that embeds each dataset once, and a large subset embedded from its seeded sample. Each metric's
own tests: tests/unit/metrics/."""

from __future__ import annotations

import random

import numpy as np
import pytest
from alignment_texts import MATH_A, MATH_B, PROSE_A, gzip_embedding, sbert_like_embedding
from helpers import PROSE, WORDS, sentence

from dataalign.align.metrics import align_embeddings
from dataalign.align.sbert import sbert_alignment
from dataalign.align.stats import alignment_matrix, small_sample
from dataalign.align.task2vec import (
    task2vec_alignment,
)


def test_every_metric_reports_the_same_columns():
    a, c = gzip_embedding(MATH_A), gzip_embedding(PROSE_A)
    vectors = np.random.default_rng(1).random((4, 6))
    rows = [
        align_embeddings("gzip", a, c, {"max_pairs": 500, "seed": 0, "level": 9, "bootstrap": 50}),
        sbert_alignment(sbert_like_embedding(MATH_A), sbert_like_embedding(PROSE_A), 50),
        task2vec_alignment(vectors, vectors[::-1] + 0.1, resamples=50),
    ]
    columns = {tuple(r.as_row()) for r in rows}
    assert columns == {
        (
            "alignment",
            "std",
            "se",
            "ci_low",
            "ci_high",
            "n",
            "n_total",
            "sampling_se",
            "train_se",
            "train_df",
            "note",
        )
    }


def test_pair_bootstrap_covers_a_two_way_mean_and_the_pair_t_interval_does_not():
    """Pair values share their rows' and columns' effects (a batch is in every pair it makes).

    Resampling both sides covers the true mean about 95% of the time; a t interval over the
    N x M pairs as if independent (the old "±") covers it far less often.
    """
    from scipy import stats

    from dataalign.align.stats import all_pairs, pair_mean

    rng = np.random.default_rng(0)
    n_a, n_b, covered, naive = 12, 15, 0, 0
    for trial in range(200):
        values = (
            rng.normal(0, 1, (n_a, 1)) + rng.normal(0, 1, (1, n_b)) + rng.normal(0, 1, (n_a, n_b))
        )
        result = pair_mean(values, *all_pairs(n_a, n_b), n_a, n_b, resamples=400, seed=trial)
        covered += result.ci_low <= 0 <= result.ci_high
        half = stats.t.ppf(0.975, values.size - 1) * values.std(ddof=1) / np.sqrt(values.size)
        naive += abs(values.mean()) <= half
    assert 0.88 <= covered / 200 <= 0.99
    assert naive / 200 < 0.6


def test_alignment_matrix_embeds_each_dataset_exactly_once():
    calls = []

    def embed(texts):
        calls.append(texts)
        return gzip_embedding(texts)

    train = {"math_b": MATH_B, "prose": PROSE_A, "math_a": MATH_A}
    evaluation = {"eval_1": MATH_A[:10], "eval_2": PROSE_A[:10]}
    table = alignment_matrix(
        train,
        evaluation,
        embed,
        lambda x, y: align_embeddings(
            "gzip", x, y, {"max_pairs": 500, "seed": 0, "level": 9, "bootstrap": 50}
        ),
    )
    assert len(calls) == len(train) + len(evaluation)
    assert len(table) == len(train) * len(evaluation)


def test_pair_bootstrap_in_chunks_gives_the_same_draws(monkeypatch):
    """Memory is bounded whatever max_pairs is: past PAIR_WEIGHTS cells the resamples are
    chunked over the pairs instead of summed per cell, and no number changes."""
    import dataalign.align.stats as stats_module

    values = np.random.default_rng(0).random(300)
    i, j = np.arange(300) % 20, np.arange(300) % 15
    whole = stats_module.pair_mean(values, i, j, 20, 15, resamples=50, seed=3, train_side=1)
    monkeypatch.setattr(stats_module, "PAIR_WEIGHTS", 250)  # below 20 x 15 cells: chunked
    chunked = stats_module.pair_mean(values, i, j, 20, 15, resamples=50, seed=3, train_side=1)
    numbers = [{k: v for k, v in r.as_row().items() if k != "note"} for r in (chunked, whole)]
    assert numbers[0] == pytest.approx(numbers[1], rel=1e-12)


def demo_embed_settings(metric: str) -> dict:
    """The demo config's embed settings for `metric` (defaults filled by the schema)."""
    import yaml
    from helpers import REPO

    from dataalign.plan.checks import validate_config
    from dataalign.plan.params import embed_settings

    config = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
    validate_config(config)
    return embed_settings(config, metric)


@pytest.mark.parametrize("metric", ["gzip", "ngram", "sbert"])
def test_a_large_subset_is_embedded_from_its_seeded_sample_only(metric, tmp_path, monkeypatch):
    """A corpus-sized subset: only the sample is read (never the whole column) and embedded,
    and the alignment table says how many examples the subsets held and what sampling adds."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from dataalign.align.metrics import embed_subset, example_sample
    from dataalign.io import ParquetColumn

    rng = random.Random(0)
    texts = [sentence(rng, WORDS if i % 2 else PROSE, 6, 14) for i in range(5000)]
    path = tmp_path / "subset.parquet"
    pq.write_table(pa.table({"text": texts}), path, row_group_size=250)

    def whole_read(self):
        raise AssertionError("the whole subset was read")

    monkeypatch.setattr(ParquetColumn, "__iter__", whole_read)
    embedded = []
    real = ParquetColumn.take
    monkeypatch.setattr(ParquetColumn, "take", lambda self, p: embedded.append(p) or real(self, p))
    settings = {**demo_embed_settings(metric), "max_examples": 300, "seed": 3}
    large = embed_subset(metric, ParquetColumn(path), settings, "large")
    (positions,) = embedded
    assert np.array_equal(positions, example_sample(5000, 300, seed=3)) and len(large) == 300
    assert large.attrs["examples"] == 5000
    if metric == "gzip":
        assert large["text"].tolist() == [texts[p] for p in positions]
    small = embed_subset(metric, texts[:40], settings, "small")  # below max_examples: all of it
    assert len(small) == 40 and small.attrs["examples"] == 40
    align = {"bootstrap": 200, "seed": 0, "max_pairs": 10000, "level": 9, "buckets": 10000}
    row = align_embeddings(metric, large, small, align).as_row()
    assert row["n_total"] == 5040
    assert row["sampling_se"] == pytest.approx(row["se"] * np.sqrt(1 - 340 / 5040))
    full = align_embeddings(metric, small, small, align).as_row()
    assert full["sampling_se"] == 0 and full["n_total"] == full["n"]


def constant_and_varied(metric: str):
    """(a constant dataset, a varied one) of `metric`'s embeddings: the constant one's examples
    (or batches) are identical, so resampling them changes nothing."""
    if metric == "gzip":
        return gzip_embedding([MATH_A[0]] * 12), gzip_embedding(PROSE_A)
    if metric == "sbert":
        varied = sbert_like_embedding(MATH_B)  # shares words with the constant one
        return np.repeat(sbert_like_embedding(MATH_A[:1]), 12, axis=0), varied
    vectors = np.random.default_rng(3).random((10, 6))
    return np.repeat(vectors[:1], 10, axis=0), vectors


def aligned(metric: str, train, benchmark):
    if metric == "gzip":
        return align_embeddings(
            "gzip", train, benchmark, {"max_pairs": 10_000, "seed": 0, "level": 9, "bootstrap": 400}
        )
    if metric == "sbert":
        return sbert_alignment(train, benchmark, resamples=400)
    return task2vec_alignment(train, benchmark, resamples=400)


@pytest.mark.parametrize("metric", ["gzip", "sbert", "task2vec"])
def test_train_se_resamples_the_first_dataset_only(metric):
    """A benchmark of identical examples adds no noise: train_se is the whole se (with the small-
    sample factor sqrt(n / (n - 1)) that Task2Vec's se has too). A train set of identical
    examples has none: train_se is 0 while se is not (whichever order the metric works in
    internally)."""
    constant, varied = constant_and_varied(metric)
    fixed_benchmark = aligned(metric, varied, constant)
    factor = 1.0 if metric == "task2vec" else small_sample(len(varied))
    assert fixed_benchmark.se > 0
    assert fixed_benchmark.train_se == pytest.approx(fixed_benchmark.se * factor, rel=1e-9)
    fixed_train = aligned(metric, constant, varied)
    assert fixed_train.se > 0 and fixed_train.train_se == pytest.approx(0, abs=1e-12)


def test_task2vec_train_se_needs_enough_groups_on_the_train_side_only():
    """Against a benchmark of 3 batches the two-sided se is NaN (fewer than 8 groups), but the
    train set's 10 groups still give it an error bar with the benchmark held fixed."""
    rng = np.random.default_rng(4)
    train, benchmark = rng.random((10, 6)), rng.random((3, 6))
    forward = task2vec_alignment(train, benchmark, resamples=200)
    assert np.isnan(forward.se) and "fewer than" in forward.note
    assert forward.train_se > 0
    assert np.isnan(task2vec_alignment(benchmark, train, resamples=200).train_se)
