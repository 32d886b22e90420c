"""The ranking of candidate train sets: means over draws, the benchmark-fixed SE, the pairwise
Welch t-tests with Holm's correction, and the table a reader scans."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from dataalign.analysis.alignments import rank_candidates, ranking_markdown

DF = 1e9  # each draw's train_df: many examples, so the t tests are z tests


def alignments(
    values: dict[str, list[tuple[float, float]]], metric: str = "gzip", df: float = DF
) -> pd.DataFrame:
    """Alignment rows of each candidate's draws, (alignment, train_se) per draw."""
    return pd.DataFrame(
        [
            {
                "metric": metric,
                "eval": "bench",
                "train": train,
                "seed": seed,
                "alignment": value,
                "se": 9.0,
                "train_se": se,
                "train_df": df,
            }
            for train, draws in values.items()
            for seed, (value, se) in enumerate(draws)
        ]
    )


def test_candidates_are_ranked_with_draw_means_and_benchmark_fixed_errors():
    long = alignments(
        {
            "low": [(0.10, 0.01), (0.12, 0.01)],
            "high": [(0.30, 0.02), (0.34, 0.02)],
            "mid": [(0.27, 0.01), (0.29, 0.01)],
        }
    )
    ranking = rank_candidates(long)
    assert ranking["train"].tolist() == ["high", "mid", "low"]
    assert ranking["rank"].tolist() == [1, 2, 3]
    high = ranking.iloc[0]
    assert high["alignment"] == pytest.approx(0.32)
    assert high["se"] == pytest.approx(np.sqrt(2 * 0.02**2) / 2)  # the two-sided se (9) unused
    assert high["ci_high"] - high["alignment"] == pytest.approx(1.959964 * high["se"], rel=1e-5)
    # high - mid = 0.04 with se sqrt(0.0002 + 0.00005): p = 0.011, Holm x1 (largest p of three)
    p = 2 * stats.norm.sf(0.04 / np.sqrt(0.0002 + 0.00005))
    assert high["p_next"] == pytest.approx(p)
    assert high["above"] == "mid; low" and ranking.iloc[1]["above"] == "low"
    assert np.isnan(ranking.iloc[2]["p_next"]) and ranking.iloc[2]["above"] == ""


def test_a_difference_within_noise_is_a_tie_after_holm():
    """a - b has p = 0.03 alone, below 0.05, but it is the second smallest of three p-values:
    Holm makes it 0.06, so a and b are tied; a - c (larger) stays beyond noise."""
    z = stats.norm.isf(0.015)
    long = alignments(
        {"a": [(0.5 + z * 0.01, 0.01 * np.sqrt(1 / 2))], "b": [(0.5, 0.01 * np.sqrt(1 / 2))]}
        | {"c": [(0.5 - 0.5 * z * 0.01, 0.01 * np.sqrt(1 / 2))]}
    )
    ranking = rank_candidates(long).set_index("train")
    assert ranking.loc["a", "p_next"] == pytest.approx(0.06)  # the second of three: x2
    assert ranking.loc["a", "above"] == "c"


def test_missing_error_bars_test_nothing():
    long = alignments({"a": [(0.5, np.nan)], "b": [(0.4, 0.01)]})
    ranking = rank_candidates(long)
    assert ranking["above"].tolist() == ["", ""] and np.isnan(ranking.iloc[0]["p_next"])
    assert "| no error bar " in ranking_markdown(ranking)  # untested, not shown as a tie


def test_the_markdown_has_a_table_per_metric_and_says_when_metrics_disagree():
    first = alignments({"a": [(0.5, 0.01)], "b": [(0.3, 0.01)]})
    second = alignments({"a": [(0.2, 0.01)], "b": [(0.6, 0.01)]}, metric="ngram")
    text = ranking_markdown(rank_candidates(pd.concat([first, second])))
    assert "**gzip, benchmark bench**" in text and "**ngram, benchmark bench**" in text
    assert "(gzip: a, ngram: b): the metrics disagree" in text
    tied = alignments({"a": [(0.5, 0.2)], "b": [(0.3, 0.2)]}, metric="ngram")
    text = ranking_markdown(rank_candidates(pd.concat([first, tied])))
    assert "(gzip: a, ngram: a (tied)): the metrics agree" in text
    assert "| a " in text and "[0.4804, 0.5196]" in text


def test_few_examples_per_draw_widen_the_interval_and_the_test_by_welch_df():
    """Two draws of 8 examples each (7 df per draw, equal SEs): 14 df for the candidate, whose
    interval uses t(14); the difference of two such candidates has 28 df."""
    draws = {"a": [(0.6, 0.01), (0.6, 0.01)], "b": [(0.57, 0.01), (0.57, 0.01)]}
    ranking = rank_candidates(alignments(draws, df=7.0)).set_index("train")
    se = np.sqrt(2 * 0.01**2) / 2
    assert ranking.loc["a", "df"] == pytest.approx(14.0)
    assert ranking.loc["a", "ci_high"] - 0.6 == pytest.approx(stats.t.ppf(0.975, 14) * se)
    t = 0.03 / np.hypot(se, se)
    assert ranking.loc["a", "p_next"] == pytest.approx(2 * stats.t.sf(t, 28))
    assert ranking.loc["a", "p_next"] > 2 * stats.norm.sf(t)


def test_alignment_files_without_train_se_name_the_fix():
    from dataalign.errors import DataAlignError

    long = alignments({"a": [(0.5, 0.01)], "b": [(0.4, 0.01)]}).drop(columns=["train_df"])
    with pytest.raises(DataAlignError, match="Fix: delete the experiment's folder"):
        rank_candidates(long)
