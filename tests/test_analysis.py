"""The alignment-vs-performance fit against statsmodels and scipy on known numbers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats

from dataalign.analysis import (
    bootstrap_r2,
    correlate,
    correlation_table,
    join_points,
    leave_one_out,
)

# the paper's Table 1 shape: 7 train sets, perplexity falling as alignment rises
ALIGN = np.array([0.945, 0.740, 0.667, 0.613, 0.551, 0.325, 0.266])
PPL = np.array([12.1, 28.4, 33.0, 35.2, 41.7, 58.3, 61.0])


def points(eval_name: str = "af_test", shift: float = 0.0) -> pd.DataFrame:
    return pd.DataFrame(
        {"train": [f"d{i}" for i in range(7)], "eval": eval_name, "seed": 0,
         "alignment": ALIGN, "ppl": PPL + shift, "ce": np.log(PPL + shift)}
    )  # fmt: skip


def test_fit_matches_statsmodels_and_scipy():
    result = correlate(points(), "ppl", resamples=500)
    fit = sm.OLS(PPL, sm.add_constant(ALIGN)).fit()
    assert result["slope"] == pytest.approx(fit.params[1])
    assert result["intercept"] == pytest.approx(fit.params[0])
    assert result["r2"] == pytest.approx(fit.rsquared)
    assert result["p_value"] == pytest.approx(fit.pvalues[1])
    assert result["slope_ci_low"] == pytest.approx(fit.conf_int()[1][0])
    assert result["kendall"] == pytest.approx(stats.kendalltau(ALIGN, PPL)[0])
    assert result["spearman"] == pytest.approx(-1.0)
    assert result["slope"] < 0 and result["r2_ci_low"] <= result["r2"] <= result["r2_ci_high"]


def test_leave_one_out_refits_without_each_point():
    predictions = leave_one_out(ALIGN, PPL)
    slope, intercept = np.polyfit(ALIGN[1:], PPL[1:], 1)
    assert predictions[0] == pytest.approx(slope * ALIGN[0] + intercept)
    result = correlate(points(), "ppl", resamples=10)
    assert result["loo_mae"] == pytest.approx(np.mean(np.abs(predictions - PPL)))


def test_bootstrap_is_seeded_and_table_pools_eval_sets():
    assert bootstrap_r2(ALIGN, PPL, 300, seed=1) == bootstrap_r2(ALIGN, PPL, 300, seed=1)
    both = pd.concat([points("a"), points("b", shift=5.0)])
    table = correlation_table(both, "ppl", resamples=50)
    assert table["eval"].tolist() == ["a", "b", "pooled"]
    assert table.set_index("eval").loc["pooled", "n"] == 14


def test_too_few_points_give_no_fit():
    assert correlate(points().head(2), "ppl") == {"n": 2}


def test_join_keeps_seed_and_pair():
    alignments = points()[["train", "eval", "seed", "alignment"]]
    scores = points()[["train", "eval", "seed", "ce", "ppl"]].iloc[::-1]
    joined = join_points(alignments, scores)
    assert joined["ppl"].tolist() == PPL.tolist()


def test_metric_panels_are_drawn_even_when_a_fit_is_impossible(tmp_path):
    """Two train sets give no fit (n < 3): the table has no r², the figure still appears."""
    from dataalign.plots import plot_metrics_side_by_side

    points = pd.DataFrame(
        {"train": ["a", "b"], "eval": ["e", "e"], "seed": [0, 0], "alignment": [0.1, 0.3],
         "ce": [3.0, 2.0], "ppl": [20.1, 7.4]}
    )  # fmt: skip
    table = correlation_table(points, "ppl")
    assert "r2" not in table.columns
    paths = [tmp_path / "by_metric.png", tmp_path / "by_metric.pdf"]
    plot_metrics_side_by_side({"gzip": points, "sbert": points}, {"gzip": float("nan"),
                              "sbert": 0.5}, "ppl", None, paths)  # fmt: skip
    assert all(path.stat().st_size for path in paths)
