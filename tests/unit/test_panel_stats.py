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
    half_means,
    kendall,
    panel_correlations,
    panel_support,
    partial_kendall,
    question_support,
    split_half_reliability,
    support_flags,
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
    assert "partial_diff_p" not in table and "partial_tau_p" not in table  # descriptive only


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
    columns = ["kendall_p", "tau_diff_p", "corrected_diff_p"]
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
    assert np.isnan(row["partial_diff_ci_low"]) and np.isnan(row["partial_tau_ci_low"])
    assert "partial_tau undefined in" in row["note"] and "of resamples: no CI" in row["note"]
    assert "no per-example scores of candidate, target, b" not in row["note"]  # target is "a"
    assert "no per-example scores of candidate, a, b: no reliability" in row["note"]


def reliability_panel(rng: np.random.Generator, n: int, skill: float) -> tuple:
    """Per-example scores of n models that differ in general quality g, and with `skill` in a
    skill s that only the candidate and the target read. The target is reliable (400 examples),
    the other benchmark less so (60): with no skill, only reliability tells them apart."""
    general, specific = rng.normal(size=n), rng.normal(size=n)
    datasets = {
        "candidate": (160, 4.0),
        "target": (400, 3.0),
        "other": (60, 4.0),
        "control": (300, 2.0),
    }
    models = [f"m{m}" for m in range(n)]
    wide, frames = {}, []
    for name, (examples, noise) in datasets.items():
        true = general + (skill * specific if name in ("candidate", "target") else 0.0)
        difficulty = rng.normal(0, 1, examples)
        scores = true[:, None] + difficulty + rng.normal(0, noise, (n, examples))
        wide[name] = scores.mean(axis=1)
        frames.append(
            pd.DataFrame(
                {
                    "model": np.repeat(models, examples),
                    "dataset": name,
                    "row": np.tile(np.arange(examples), n),
                    "score": scores.ravel(),
                }
            )
        )
    return pd.DataFrame(wide, index=models), half_means(pd.concat(frames), models)


def other_row(n: int, skill: float, panels: int) -> pd.DataFrame:
    rng = np.random.default_rng(n + int(10 * skill))
    rows = []
    for seed in range(panels):
        wide, halves = reliability_panel(rng, n, skill)
        table = panel_correlations(
            wide, "candidate", ["target", "other"], ["control"], "target", 500, seed, halves
        )
        rows.append(table.set_index("benchmark").loc["other"])
    return pd.DataFrame(rows)


@pytest.mark.slow
@pytest.mark.parametrize("members", [12, 20, 40])
def test_corrected_difference_holds_its_size_when_the_target_is_only_more_reliable(members):
    """No skill, 150 panels: the plain tau difference "wins" for the more reliable target in
    6% / 19% / 58% of panels at 12 / 20 / 40 members (when written); the reliability-corrected
    difference rejects at most 8% (none: capped at 1, it is conservative), with the split-half
    reliabilities near their true values (other 0.75-0.78)."""
    rows = other_row(members, 0.0, 150)
    assert np.mean(rows["corrected_diff_p"] < 0.05) <= 0.08
    assert rows["corrected_diff_p"].isna().mean() <= 0.1
    assert 0.65 <= rows["reliability"].mean() <= 0.85
    if members == 40:
        assert np.mean(rows["tau_diff_p"] < 0.05) >= 0.3  # the uncorrected test cannot tell


@pytest.mark.slow
def test_corrected_difference_finds_a_skill_the_candidate_shares_with_the_target():
    """Skill 0.7 SD shared by candidate and target, 40 members: the corrected difference is
    positive on average and rejects in 45 of 100 panels when written (a test that never
    rejects fails here)."""
    rows = other_row(40, 0.7, 100)
    assert rows["corrected_diff"].mean() > 0.1 and np.mean(rows["corrected_diff_p"] < 0.05) >= 0.3


def test_split_half_reliability_is_the_share_of_true_spread():
    """True scores SD 1 plus example noise whose mean over 100 examples has SD 0.5: the
    reliability of the mean is 1 / (1 + 0.25) = 0.8."""
    rng = np.random.default_rng(5)
    true = rng.normal(size=400)
    scores = true[:, None] + rng.normal(0, 5.0, (400, 100))
    examples = pd.DataFrame(
        {
            "model": np.repeat(np.arange(400), 100),
            "dataset": "d",
            "row": np.tile(np.arange(100), 400),
            "score": scores.ravel(),
        }
    )
    halves = half_means(examples, list(range(400)))["d"]
    reliability = split_half_reliability(halves, np.arange(400)[None])[0]
    assert reliability == pytest.approx(0.8, abs=0.04)


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
    values = np.array([row["tau_diff_p"] for row in p_values], float)
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


def test_the_panel_figure_is_drawn_from_the_summary_and_the_table(tmp_path):
    """The figure correlate_panel writes: each benchmark's and control's raw score against the
    candidate's, with the chosen fit and the table's tau in the titles."""
    from dataalign.panel.plots import plot_panel

    wide = skill_panel(n=12)
    benchmarks = ["skill_bench", "general_bench"]
    table = panel_correlations(wide, "candidate", benchmarks, ["control"], resamples=200)
    summary = (
        wide.rename_axis("model")
        .reset_index()
        .melt("model", var_name="benchmark", value_name="value")
        .assign(kind="mean_loglik")
    )
    paths = [tmp_path / "panel.png", tmp_path / "panel.pdf"]
    plot_panel(summary, table, "candidate", "linear", paths)
    assert all(path.stat().st_size for path in paths)


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


def test_question_support_is_the_bits_per_byte_the_own_question_saves():
    own = pd.DataFrame(
        {"model": ["a", "a", "b"], "row": [1, 2, 1], "loglik": [-10.0, -20.0, -5.0]}
    ).assign(n_answer_bytes=[5, 10, 5])
    shifted = own.assign(loglik=[-12.0, -19.0, -5.0])
    support = question_support(own, shifted)
    assert support.loc[1, "a"] == pytest.approx(2 / (np.log(2) * 5))
    assert support.loc[2, "a"] == pytest.approx(-1 / (np.log(2) * 10))  # another question fits
    assert support.loc[1, "b"] == 0 and np.isnan(support.loc[2, "b"])


def test_support_p_is_the_conformal_rank_among_the_reference_answers():
    reference = pd.Series([0.1, 0.2, 0.3, 0.4])
    candidate = pd.Series([0.05, 0.2, 0.9], index=[7, 8, 9])
    table = support_flags(candidate, reference, fdr=0.5).set_index("row")
    # (1 + reference answers supported no better) / (4 + 1); a tie counts against the example
    assert table["p_value"].to_dict() == {7: 0.2, 8: 0.6, 9: 1.0}
    assert table.loc[7, "q_value"] == pytest.approx(0.6)  # Benjamini-Hochberg: 0.2 * 3 / 1
    assert not table["flagged"].any()
    assert support_flags(candidate, reference, 0.61)["flagged"].tolist() == [True, False, False]
    unreferenced = support_flags(candidate, None)
    assert unreferenced["p_value"].isna().all() and not unreferenced["flagged"].any()


def simulated_support(
    rng: np.random.Generator, rows: int, planted: int, signal: np.ndarray, noise: np.ndarray
) -> pd.DataFrame:
    """Members' question support (rows x members): right answers' support is skewed (a gamma
    around `signal`), a misplaced answer's is noise around 0; the first `planted` rows are
    misplaced."""
    shape = 8.0
    right = rng.gamma(shape, signal / shape, (rows, len(signal)))
    support = right + rng.normal(0, noise, (rows, len(signal)))
    support[:planted] = rng.normal(0, noise, (planted, len(signal)))
    return pd.DataFrame(support, columns=[f"m{i}" for i in range(len(signal))])


def test_support_flags_hold_their_false_discovery_rate_and_find_planted_answers():
    """Calibration at the sizes skill_panel_12 runs: 12 members (one that reads the question
    well, three weakly, eight not at all), 160 candidate examples, 320 reference answers."""
    rng = np.random.default_rng(0)
    signal = np.array([0.35, 0.03, 0.02, 0.01, *[0.0] * 8])
    noise = np.array([0.05, *[0.02] * 11])
    fdr, runs = 0.05, 300
    false_alarms, proportions, hits = 0, [], []
    for _ in range(runs):
        reference = simulated_support(rng, 320, 0, signal, noise)
        clean = simulated_support(rng, 160, 0, signal, noise)
        candidate, ref, _ = panel_support(clean, reference)
        false_alarms += support_flags(candidate, ref, fdr)["flagged"].any()
        planted = simulated_support(rng, 160, 16, signal, noise)
        candidate, ref, shares = panel_support(planted, reference)
        flags = support_flags(candidate, ref, fdr)
        flagged = set(flags.loc[flags["flagged"], "row"])
        proportions.append(len(flagged - set(range(16))) / max(len(flagged), 1))
        hits.append(len(flagged & set(range(16))) / 16)
    # every answer right: any flag is a false discovery (3 standard errors of 300 runs: 0.038)
    assert false_alarms / runs <= fdr + 0.038
    assert np.mean(proportions) <= fdr + 0.02  # false discovery rate with 10% planted
    assert np.mean(hits) > 0.5
    assert shares.sum() == pytest.approx(1) and shares["m0"] > 0.5
    assert shares[[f"m{i}" for i in range(4, 12)]].max() < 0.05  # members that cannot read


def test_weighting_by_reliability_beats_the_plain_mean_when_one_member_reads_the_question():
    rng = np.random.default_rng(1)
    signal = np.array([0.35, *[0.0] * 11])
    noise = np.array([0.05, *[0.1] * 11])  # eleven members add only noise
    reference = simulated_support(rng, 1000, 0, signal, noise)  # p resolves to 0.001
    planted = simulated_support(rng, 160, 16, signal, noise)
    candidate, ref, _ = panel_support(planted, reference)
    weighted = support_flags(candidate, ref)
    plain = support_flags(planted.mean(axis=1), reference.mean(axis=1))
    assert weighted.loc[weighted["flagged"], "row"].lt(16).sum() >= 12  # 13 of the 16 planted
    assert plain["flagged"].sum() < weighted["flagged"].sum()  # the plain mean flags none
