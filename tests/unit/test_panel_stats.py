"""Panel statistics: partial Kendall tau, the paired bootstrap, fits and example flags."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from dataalign.errors import ModelSpecError
from dataalign.panel.stats import (
    example_signal,
    fit_curve,
    fit_r2,
    flag_counts,
    kendall,
    panel_correlations,
    partial_kendall,
)
from dataalign.panel.steps import refuse_duplicate_members


def skill_panel(n: int = 60, seed: int = 0) -> pd.DataFrame:
    """Models that differ in a skill and, independently, in general quality.

    The candidate reads both (as any corpus scored by likelihood does); `skill_bench` follows
    the skill, `general_bench` and the control corpus follow general quality.
    """
    rng = np.random.default_rng(seed)
    skill, general = rng.normal(size=n), rng.normal(size=n)
    noise = 0.3
    return pd.DataFrame(
        {
            "candidate": skill + general + rng.normal(0, noise, n),
            "skill_bench": skill + rng.normal(0, noise, n),
            "general_bench": general + rng.normal(0, noise, n),
            "control": general + rng.normal(0, noise / 3, n),  # bits per byte: precise
        },
        index=[f"m{i}" for i in range(n)],
    )


@pytest.mark.parametrize("seed", [0, 1])
def test_the_control_separates_the_skill_benchmark_from_general_quality(seed):
    wide = skill_panel(seed=seed)
    benchmarks = ["skill_bench", "general_bench"]
    without = panel_correlations(wide, "candidate", benchmarks, resamples=1000, seed=seed)
    other = without.set_index("benchmark").loc["general_bench"]
    # Without the control both benchmarks look alike: tau is clearly positive for each, and
    # the paired bootstrap cannot tell the target from the general-quality benchmark.
    assert (without["kendall_p"] < 0.05).all()
    assert other["tau_diff_ci_low"] < 0 < other["tau_diff_ci_high"]
    assert np.isnan(other["partial_tau"])

    table = panel_correlations(
        wide, "candidate", benchmarks, ["control"], resamples=1000, seed=seed
    ).set_index("benchmark")
    assert table.loc["skill_bench", "role"] == "target"
    assert table.loc["control", "role"] == "control"
    assert table.loc["skill_bench", "partial_tau_ci_low"] > 0.2
    assert table.loc["general_bench", "partial_tau"] < table.loc["skill_bench", "partial_tau"] - 0.2
    assert table.loc["general_bench", "partial_diff_ci_low"] > 0
    assert table.loc["general_bench", "partial_diff_p_holm"] < 0.05


def test_partial_tau_matches_its_closed_form_and_vanishes_when_z_explains_both():
    rng = np.random.default_rng(3)
    x, y, z = rng.normal(size=(3, 25))
    txy, txz, tyz = (stats.kendalltau(a, b).statistic for a, b in ((x, y), (x, z), (y, z)))
    expected = (txy - txz * tyz) / np.sqrt((1 - txz**2) * (1 - tyz**2))
    assert partial_kendall(x, y, z) == pytest.approx(expected)
    # x and y are both z itself (monotone transforms): nothing is left once z is known
    assert np.isnan(partial_kendall(np.exp(z), z**3, z))
    assert kendall(x, np.ones(25)) != kendall(x, np.ones(25))  # constant side: NaN


def test_holm_runs_over_every_comparison_of_the_table():
    from statsmodels.stats.multitest import multipletests

    wide = skill_panel(n=12, seed=4)
    table = panel_correlations(
        wide, "candidate", ["skill_bench", "general_bench"], ["control"], resamples=300
    )
    columns = ["kendall_p", "partial_tau_p", "tau_diff_p", "partial_diff_p"]
    family = table[columns].to_numpy(float).ravel()
    tested = ~np.isnan(family)
    expected = multipletests(family[tested], method="holm")[1]
    got = table[[f"{c}_holm" for c in columns]].to_numpy(float).ravel()
    np.testing.assert_allclose(got[tested], expected)
    tau, p_value = stats.kendalltau(wide["candidate"], wide["skill_bench"])
    assert table.loc[0, "kendall_tau"] == pytest.approx(tau)
    assert table.loc[0, "kendall_p"] == pytest.approx(p_value)


def null_panel(n: int, seed: int) -> pd.DataFrame:
    """The candidate relates to both benchmarks alike: tau(candidate, a) = tau(candidate, b)."""
    rng = np.random.default_rng(seed)
    skill, general = rng.normal(size=n), rng.normal(size=n)
    columns = {name: skill + general + rng.normal(0, 0.5, n) for name in ("candidate", "a", "b")}
    columns["control"] = general + rng.normal(0, 0.3, n)
    return pd.DataFrame(columns, index=[f"m{i}" for i in range(n)])


def test_six_members_get_tau_and_its_exact_p_but_no_bootstrap():
    table = panel_correlations(null_panel(6, 0), "candidate", ["a", "b"], ["control"])
    paired = [c for c in table if c.startswith(("tau_diff_", "partial_diff_", "partial_tau_"))]
    assert table[paired].isna().all().all()
    assert table["note"].str.contains("6 models < 10: tau and its exact p only").all()
    assert table["kendall_p"].notna().all()


def test_undefined_resamples_are_counted_and_refused():
    """A control that orders the candidate almost completely leaves partial tau undefined in
    many resamples: the CI and p are NaN and the note gives the share, not a CI of the rest."""
    wide = null_panel(12, 1)
    wide["control"] = wide["candidate"].rank() + np.r_[0.0, 0.0, 1.5, *np.zeros(9)]
    table = panel_correlations(wide, "candidate", ["a", "b"], ["control"], resamples=500)
    row = table.set_index("benchmark").loc["b"]
    assert np.isnan(row["partial_diff_p"]) and np.isnan(row["partial_tau_ci_low"])
    assert "partial_tau undefined in" in row["note"] and "of resamples: no CI or p" in row["note"]


@pytest.mark.slow
def test_paired_p_holds_its_size_with_twelve_members():
    """A planted null at 12 members (100 panels): the paired p rejects at most 7%."""
    p_values = [
        panel_correlations(
            null_panel(12, seed), "candidate", ["a", "b"], ["control"], resamples=1000, seed=seed
        )
        .set_index("benchmark")
        .loc["b"]
        for seed in range(100)
    ]
    for column in ("tau_diff_p", "partial_diff_p"):
        values = np.array([row[column] for row in p_values], float)
        assert np.isnan(values).mean() < 0.1 and np.mean(values[~np.isnan(values)] < 0.05) <= 0.07


def test_fits_recover_their_own_closed_forms():
    x = np.linspace(1.0, 9.0, 12)
    assert fit_r2(x, 3 - 2 * x, "linear") == pytest.approx(1.0)
    assert fit_r2(-x, 0.5 + 0.2 * np.log(x), "log") == pytest.approx(1.0)  # y = a + b ln(-LL)
    assert fit_r2(x, 4 * x**-0.7, "power") == pytest.approx(1.0)
    assert fit_r2(x, 4 * x**-0.7, "linear") < 0.95
    assert np.isnan(fit_r2(np.r_[-1.0, x], np.r_[1.0, x], "log"))  # straddles zero
    # one scale: the power law's r² is that of y, not of ln y
    y = 4 * x**-0.7 * np.exp(np.random.default_rng(0).normal(0, 0.2, 12))
    predicted = fit_curve(x, y, "power", x)
    expected = 1 - np.sum((y - predicted) ** 2) / np.sum((y - y.mean()) ** 2)
    assert fit_r2(x, y, "power") == pytest.approx(expected)
    grid = np.array([2.0, 5.0])
    np.testing.assert_allclose(fit_curve(x, 4 * x**-0.7, "power", grid), 4 * grid**-0.7)
    np.testing.assert_allclose(fit_curve(-x, 1 + np.log(x), "log", -grid), 1 + np.log(grid))


def test_example_flags_need_a_corrected_p_value_not_a_negative_tau():
    rng = np.random.default_rng(5)
    models = [f"m{i}" for i in range(9)]
    quality = pd.Series(np.arange(9.0), index=models)
    rows = []
    for row in range(60):
        planted = row < 3  # the better the model, the less likely: a wrong answer key
        values = -quality.to_numpy() + rng.normal(0, 0.01, 9) if planted else rng.normal(size=9)
        rows += [{"row": row, "model": m, "score": v} for m, v in zip(models, values, strict=True)]
    signal = example_signal(pd.DataFrame(rows), quality)
    flagged = set(signal.loc[signal["flagged"], "row"])
    assert flagged == {0, 1, 2}
    assert (signal["kendall_tau"] < 0).sum() > 10  # tau < 0 alone would flag many more
    assert signal["q_value"].ge(signal["p_value"]).all()


def test_flag_counts_are_hits_and_false_alarms_per_benchmark():
    signals = pd.DataFrame(
        {
            "benchmark": ["a"] * 5 + ["b"] * 5,
            "planted": [True, True, False, False, False] * 2,
            "flagged": [True, False, False, False, True, False, False, False, False, False],
        }
    )
    counts = flag_counts(signals)
    assert counts.loc["a", ("flagged", "planted")] == 1 and counts.loc["a", ("of", "planted")] == 2
    assert counts.loc["a", ("flagged", "intact")] == 1 and counts.loc["a", ("of", "intact")] == 3
    assert counts.loc["b", "flagged"].sum() == 0


def test_a_member_listed_twice_is_refused_by_name():
    wide = pd.DataFrame(
        {"candidate": [1.0, 2.0, 1.0, 3.0], "bench": [0.5, 0.1, 0.5, 0.2]},
        index=["c4_80k", "math_10", "math_00", "smollm2"],
    )
    with pytest.raises(ModelSpecError, match="c4_80k and math_00 score identically"):
        refuse_duplicate_members(wide)
    wide.loc["math_00", "bench"] = 0.6  # the same on one dataset only: different models
    refuse_duplicate_members(wide)
