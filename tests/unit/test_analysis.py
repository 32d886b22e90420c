"""The alignment-vs-performance fit against statsmodels and scipy on known numbers."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats
from statsmodels.stats.multitest import multipletests

from dataalign.analysis.correlation import (
    adjust_across,
    correlate,
    correlation_table,
    join_points,
)
from dataalign.analysis.inference import (
    leave_one_unit_out,
    permutation_p,
    unit_bootstrap_r2,
    wild_cluster_p,
)

# the paper's Table 1 shape: 7 train sets, perplexity falling as alignment rises
ALIGN = np.array([0.945, 0.740, 0.667, 0.613, 0.551, 0.325, 0.266])
PPL = np.array([12.1, 28.4, 33.0, 35.2, 41.7, 58.3, 61.0])


def points(eval_name: str = "af_test", shift: float = 0.0) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "train": [f"d{i}" for i in range(7)],
            "eval": eval_name,
            "seed": 0,
            "alignment": ALIGN,
            "ppl": PPL + shift,
            "ce": np.log(PPL + shift),
        }
    ).assign(unit=lambda frame: frame["train"])


def draws(noise: float, seeds: int = 2, units: int = 6, seed: int = 0) -> pd.DataFrame:
    """`seeds` near-duplicate draws of each train set: a unit effect shared by its draws."""
    rng = np.random.default_rng(seed)
    x = np.linspace(0.2, 0.9, units)
    y = 40 - 30 * x + rng.normal(0, 4, units)
    rows = [
        {
            "train": f"t{u}",
            "unit": f"t{u}",
            "eval": "e",
            "seed": s,
            "alignment": x[u] + rng.normal(0, noise),
            "ppl": y[u] + rng.normal(0, noise),
        }
        for u in range(units)
        for s in range(seeds)
    ]
    return pd.DataFrame(rows)


def test_one_point_per_train_set_matches_statsmodels_and_scipy():
    """With one point per train set CR2 is HC2, and the wild bootstrap CI inverts its own p."""
    result = correlate(points(), "ppl", resamples=500)
    fit = sm.OLS(PPL, sm.add_constant(ALIGN)).fit(cov_type="HC2")
    assert result["n_points"] == result["n_train_sets"] == 7
    assert result["slope"] == pytest.approx(fit.params[1])
    assert result["intercept"] == pytest.approx(fit.params[0])
    assert result["r2"] == pytest.approx(fit.rsquared)
    assert result["slope_se"] == pytest.approx(fit.bse[1])
    assert 1 < result["slope_df"] < 6 and result["p_value"] < 0.01
    assert result["slope_ci_low"] < result["slope"] < result["slope_ci_high"] < 0
    x, y, units, z = ALIGN, PPL, np.arange(7).astype(str), np.ones((7, 1))
    step = 0.02 * result["slope_se"]
    for bound, outwards in ((result["slope_ci_low"], -step), (result["slope_ci_high"], step)):
        outside = wild_cluster_p(x, y, z, units, bound + outwards)
        assert outside < 0.05 <= wild_cluster_p(x, y, z, units, bound - outwards)
    assert result["kendall"] == pytest.approx(stats.kendalltau(ALIGN, PPL)[0])
    assert result["spearman"] == pytest.approx(-1.0)
    assert result["slope"] < 0 and result["r2_ci_low"] <= result["r2"] <= result["r2_ci_high"]


def test_near_duplicate_draws_do_not_narrow_the_clustered_interval():
    """Seeds of one train set that say the same thing twice add points, not evidence."""
    twice = draws(noise=1e-3)
    clustered = correlate(twice, "ppl", resamples=300)
    naive = sm.OLS(twice["ppl"], sm.add_constant(twice["alignment"])).fit()
    naive_width = np.diff(naive.conf_int().to_numpy()[1])[0]
    width = clustered["slope_ci_high"] - clustered["slope_ci_low"]
    assert clustered["n_points"] == 12 and clustered["n_train_sets"] == 6
    assert width > 1.2 * naive_width and clustered["p_value"] > 2 * naive.pvalues.iloc[1]
    once = correlate(twice[twice["seed"] == 0], "ppl", resamples=300)
    assert width == pytest.approx(once["slope_ci_high"] - once["slope_ci_low"], rel=0.1)
    assert clustered["p_permutation"] == pytest.approx(once["p_permutation"])


def test_the_bootstrap_resamples_train_sets_with_all_their_draws():
    """Exact duplicates of every point give the same train-set bootstrap CI as the originals."""
    once = draws(noise=0.0, seeds=1)
    twice = pd.concat([once, once.assign(seed=1)], ignore_index=True)
    args = [
        (f["alignment"].to_numpy(), f["ppl"].to_numpy(), f["unit"].to_numpy())
        for f in (once, twice)
    ]
    assert unit_bootstrap_r2(*args[0], 400, seed=3) == pytest.approx(
        unit_bootstrap_r2(*args[1], 400, seed=3)
    )


def test_leave_out_leaves_whole_train_sets_out():
    twice = draws(noise=0.05)
    x, y, units = twice["alignment"].to_numpy(), twice["ppl"].to_numpy(), twice["unit"].to_numpy()
    predictions = leave_one_unit_out(x, y, units)
    out = units == "t0"
    slope, intercept = np.polyfit(x[~out], y[~out], 1)
    assert predictions[out] == pytest.approx(slope * x[out] + intercept)
    result = correlate(twice, "ppl", resamples=10)
    assert result["loo_mae"] == pytest.approx(np.mean(np.abs(predictions - y)))


def test_permutation_p_is_exact_over_train_set_orders():
    """Against a brute force over all 7! orders of the train sets' alignments."""
    import itertools

    observed = abs(np.corrcoef(ALIGN, PPL)[0, 1])
    orders = list(itertools.permutations(range(7)))
    count = sum(abs(np.corrcoef(ALIGN[list(o)], PPL)[0, 1]) >= observed - 1e-12 for o in orders)
    p, used = permutation_p(points(), "ppl", permutations=10_000, seed=0)
    assert used == 5040 and p == pytest.approx(count / 5040)
    sampled, used = permutation_p(points(), "ppl", permutations=1000, seed=0)
    assert used == 1001 and 1 / 1001 <= sampled < 0.01
    both = pd.concat([points("a"), points("b").iloc[1:]])  # d0 was not scored on b
    assert np.isnan(permutation_p(both, "ppl", permutations=100, seed=0)[0])


def test_too_few_train_sets_say_so_instead_of_a_clustered_number():
    result = correlate(points().head(4), "ppl", min_train_sets=5)
    assert np.isnan(result.get("slope_se", np.nan)) and np.isnan(result.get("p_value", np.nan))
    assert "4 train sets < min_train_sets 5" in result["note"] and "slope" in result
    assert correlate(points().head(2), "ppl")["note"].startswith("2 train set(s)")


def test_table_pools_eval_sets_and_holm_corrects_across_metrics():
    both = pd.concat([points("a"), points("b", shift=5.0)])
    table = correlation_table(both, "ppl", resamples=50, permutations=100)
    pooled = table.set_index("eval").loc["pooled"]
    assert table["eval"].tolist() == ["a", "b", "pooled", "pooled_raw"]
    assert pooled["n_points"] == 14 and pooled["n_train_sets"] == 7
    combined = adjust_across({"gzip": table, "sbert": table})
    family = combined["eval"] != "pooled_raw"
    expected = multipletests(combined.loc[family, "p_value"], method="holm")[1]
    assert combined.loc[family, "p_value_holm"].to_numpy() == pytest.approx(expected)
    assert combined.loc[~family, "p_value_holm"].isna().all()
    assert (combined.loc[family, "p_value_holm"] >= combined.loc[family, "p_value"]).all()


def test_holm_floor_of_the_permutation_p_is_said():
    """5 train sets allow p >= 1/120; Holm over 16 fits cannot go below 16/120 = 0.133."""
    five = points().head(5)
    tables = {f"m{k}": correlation_table(five, "ppl", resamples=20) for k in range(16)}
    combined = adjust_across(tables)
    assert combined["p_permutation_min"].iloc[0] == pytest.approx(1 / 120)
    assert combined["note"].str.contains("no permutation p can go below 0.133").all()
    assert (
        not adjust_across({"gzip": correlation_table(five, "ppl")})["note"]
        .str.contains("Holm")
        .any()
    )


def test_join_keeps_seed_and_pair():
    alignments = points()[["train", "eval", "seed", "alignment"]]
    scores = points()[["train", "eval", "seed", "ce", "ppl"]].iloc[::-1]
    joined = join_points(alignments, scores, {"d0": "d0+d1", "d1": "d0+d1"})
    assert joined["ppl"].tolist() == PPL.tolist()
    assert joined["unit"].tolist()[:3] == ["d0+d1", "d0+d1", "d2"]


def test_metric_panels_are_drawn_even_when_a_fit_is_impossible(tmp_path):
    """Two train sets give no fit (n < 3): the table has no r², the figure still appears."""
    from dataalign.analysis.plots import plot_metrics_side_by_side

    points = pd.DataFrame(
        {
            "train": ["a", "b"],
            "eval": ["e", "e"],
            "seed": [0, 0],
            "alignment": [0.1, 0.3],
            "ce": [3.0, 2.0],
            "ppl": [20.1, 7.4],
        }
    )
    table = correlation_table(points.assign(unit=points["train"]), "ppl")
    assert table["r2"].isna().all() and "no fit" in table["note"].iloc[0]
    paths = [tmp_path / "by_metric.png", tmp_path / "by_metric.pdf"]
    fit = table.iloc[0].to_dict()
    plot_metrics_side_by_side(
        {"gzip": points, "sbert": points}, {"gzip": fit, "sbert": fit}, "ppl", None, paths
    )
    assert all(path.stat().st_size for path in paths)


def confounded_benchmarks(seed: int) -> pd.DataFrame:
    """Six train sets x three benchmarks, no relation inside any benchmark, but the easier
    benchmark both more aligned and lower in loss."""
    rng = np.random.default_rng(seed)
    rows = []
    for level, benchmark in enumerate(["easy", "mid", "hard"]):
        x = 0.8 - 0.25 * level + rng.normal(0, 0.03, 6)
        y = 2.0 + 1.5 * level + rng.normal(0, 0.2, 6)
        rows += [
            {
                "train": f"t{t}",
                "unit": f"t{t}",
                "eval": benchmark,
                "seed": 0,
                "alignment": x[t],
                "ce": y[t],
                "ppl": np.exp(y[t]),
            }
            for t in range(6)
        ]
    return pd.DataFrame(rows)


def test_pooling_fits_within_benchmarks_so_an_easier_benchmark_is_no_fit():
    """Raw pooling finds a strong fit in every replicate; the within-benchmark pooled row
    rejects about as often as a 5% test should (1 in 20 here)."""
    tables = [
        correlation_table(confounded_benchmarks(seed), "ce", resamples=20).set_index("eval")
        for seed in range(20)
    ]
    raw = pd.DataFrame([t.loc["pooled_raw"] for t in tables])
    within = pd.DataFrame([t.loc["pooled"] for t in tables])
    assert (raw["r2"] > 0.8).all() and (raw["p_value"] < 0.05).all() and (raw["slope"] < 0).all()
    assert within["r2"].median() < 0.1
    assert (within["p_value"] < 0.05).sum() <= 2 and (within["p_permutation"] < 0.05).sum() <= 2
    assert within["intercept"].isna().all() and (within["loo_train_sets"] == 6).all()


def test_raw_pooled_permutation_p_tests_the_raw_r_it_prints_beside():
    """Brute force over all 6! orders of the train sets: the share whose raw r over every cell
    (benchmarks not centred) is at least as far from 0 as the observed one."""
    points = confounded_benchmarks(3)
    row = correlation_table(points, "ce", resamples=20).set_index("eval").loc["pooled_raw"]
    x = points.pivot(index="unit", columns="eval", values="alignment").to_numpy()
    y = points.pivot(index="unit", columns="eval", values="ce").to_numpy().ravel()
    raw = [
        np.corrcoef(x[list(order)].ravel(), y)[0, 1] for order in itertools.permutations(range(6))
    ]
    assert row["p_permutation"] == pytest.approx(np.mean(np.abs(raw) >= abs(raw[0]) - 1e-12))


def test_holm_equals_statsmodels_with_ties_and_nan():
    from statsmodels.stats.multitest import multipletests

    from dataalign.analysis.multiple_testing import adjusted

    rng = np.random.default_rng(0)
    for _ in range(200):
        p = rng.uniform(size=rng.integers(1, 30)) ** 3
        p[: len(p) // 3] = p[0]  # ties
        expected = multipletests(p, method="holm")[1]
        np.testing.assert_allclose(adjusted(np.r_[p, np.nan])[:-1], expected)
    assert np.isnan(adjusted([np.nan, 0.01])[0])


def test_a_row_says_which_way_the_wild_and_cr2_p_disagree():
    from dataalign.analysis.correlation import disagreement

    assert "over-rejects" in disagreement({"p_value": 0.03, "p_cr2": 0.2})
    assert "more conservative" in disagreement({"p_value": 0.11, "p_cr2": 0.045})


def benchmark_file(path, wall: float, cpu: float, rss: float | str) -> str:
    """A record as Snakemake's `benchmark:` writes it (tab-separated, one row per repeat)."""
    path.write_text(
        "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
        f"{wall}\t0:00:01\t{rss}\t1\t1\t1\t0\t0\t0\t{cpu}\n"
    )
    return str(path)


def test_stage_costs_sum_each_stage_and_price_alignment_against_training(tmp_path):
    from dataalign.analysis.costs import costs_markdown, prediction_cost, stage_costs

    files = {
        "subset": [benchmark_file(tmp_path / "s.tsv", 2.0, 1.5, 300)],
        "embed": [
            benchmark_file(tmp_path / f"e{i}.tsv", wall, 1.0, rss)
            for i, (wall, rss) in enumerate([(3.0, 900), (5.0, "-")])  # "-": not measured
        ],
        "align": [benchmark_file(tmp_path / "a.tsv", 0.5, 0.4, 100)],
        "train": [benchmark_file(tmp_path / f"t{i}.tsv", 30.0, 50.0, 2000) for i in range(2)],
        "evaluate": [benchmark_file(tmp_path / "v.tsv", 10.0, 9.0, 700)],
    }
    costs = stage_costs(files).set_index("stage")
    assert list(costs.index) == list(files)
    assert costs.loc["embed", "jobs"] == 2 and costs.loc["embed", "wall_s"] == 8.0
    assert costs.loc["embed", "peak_rss_mb"] == 900 and costs.loc["train", "cpu_s"] == 100.0
    assert costs["share"].sum() == pytest.approx(1.0)
    assert prediction_cost(costs.reset_index()) == pytest.approx(8.5 / 70.0)
    assert (
        "took 12.1% of the wall time of training and evaluating the 2 model(s)"
        in costs_markdown(costs.reset_index(), "demo")
    )
    untrained = stage_costs({k: files[k] for k in ("subset", "embed", "align")})
    assert np.isnan(prediction_cost(untrained))


def decision_points(alignment, ce, draws: int = 1, eval_set: str = "e") -> pd.DataFrame:
    """Train sets t0, t1, ... with the given alignments and CE per draw (rows: train sets)."""
    ce = np.asarray(ce, dtype=float).reshape(len(alignment), draws)
    return pd.DataFrame(
        [
            {
                "train": f"t{k}",
                "unit": f"t{k}",
                "eval": eval_set,
                "seed": d,
                "alignment": a,
                "ce": ce[k, d],
            }
            for k, a in enumerate(alignment)
            for d in range(draws)
        ]
    )


def test_decision_accuracy_counts_every_pair_ties_as_halves():
    """Pairs: (0,1), (0,2), (0,3) right; (1,2) tied alignment, 1/2; (1,3) wrong; (2,3) tied CE,
    1/2: 4 of 6. Over the pairs with different CE only: 3.5 of 5."""
    from dataalign.analysis.decisions import decision_accuracy

    points = decision_points([0.9, 0.8, 0.8, 0.1], [1.0, 2.0, 1.5, 1.5])
    result = decision_accuracy(points, "ce", 10000, 0)
    assert result["decision_accuracy"] == pytest.approx(4 / 6)
    assert result["decision_accuracy_decided"] == pytest.approx(3.5 / 5)
    assert (result["decision_pairs"], result["decision_ties"]) == (6, 1)
    assert 0 < result["decision_ci_low"] < 4 / 6 < result["decision_ci_high"] < 1


def test_a_loss_difference_within_the_draws_noise_is_a_tie():
    """Pooled draw SD 0.1, two draws: a pair is decided beyond 1.96 * 0.1 = 0.196."""
    from dataalign.analysis.decisions import decision_accuracy

    offsets = [-0.1, 0.1]  # each train set's two draws: SD 0.1414, variance 0.02
    means = [1.0, 1.1, 1.5, 2.0]
    points = decision_points([0.1, 0.2, 0.3, 0.4], [[m + o for o in offsets] for m in means], 2)
    result = decision_accuracy(points, "ce", 10000, 0)
    # only (1.0, 1.1) is within noise; alignment orders every pair wrongly
    assert (result["decision_pairs"], result["decision_ties"]) == (6, 1)
    assert result["decision_accuracy"] == result["decision_accuracy_decided"] == 0.0


def by_hand_accuracy(alignment: np.ndarray, ce: np.ndarray) -> float:
    """Every pair: 1 if the more aligned has the lower CE, 1/2 on a tie in either."""
    scores = [
        0.5
        if alignment[i] == alignment[j] or ce[i] == ce[j]
        else float((alignment[i] > alignment[j]) == (ce[i] < ce[j]))
        for i, j in itertools.combinations(range(len(ce)), 2)
    ]
    return float(np.mean(scores))


def test_decision_accuracy_p_is_exact_over_every_order():
    """Brute force: every assignment of the alignments to the train sets, pairs counted by hand."""
    from dataalign.analysis.decisions import decision_accuracy

    rng = np.random.default_rng(3)
    for n in (5, 8):
        alignment, ce = rng.normal(size=n).round(1), rng.normal(size=n).round(1)
        ce[1] = ce[0]  # a tie in loss, and likely ties in alignment
        got = decision_accuracy(decision_points(alignment, ce), "ce", 100, 0, interval=False)
        observed = by_hand_accuracy(alignment, ce)
        null = [
            by_hand_accuracy(alignment[list(order)], ce)
            for order in itertools.permutations(range(n))
        ]
        assert got["decision_accuracy"] == pytest.approx(observed)
        assert got["p_decision"] == pytest.approx(np.mean(np.array(null) >= observed - 1e-12))


def test_a_train_set_without_a_loss_is_left_out_quietly():
    """A train set whose every draw lacks a loss counts in no pair and warns of nothing (its
    zero draws once divided by zero)."""
    import warnings

    from dataalign.analysis.decisions import decision_accuracy

    ce = [[np.nan, np.nan], [1.0, 1.1], [2.0, 2.1], [3.0, 3.1], [4.0, 4.1], [5.0, 5.1]]
    points = decision_points([9.0, 0.5, 0.4, 0.3, 0.2, 0.1], ce, 2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = decision_accuracy(points, "ce", 0, 0)
    assert result["decision_pairs"] == 10 and result["decision_accuracy"] == 1.0
    assert 0.5 < result["decision_ci_low"] < 1 == result["decision_ci_high"]


def test_pooled_decisions_compare_train_sets_within_each_benchmark():
    from dataalign.analysis.decisions import decision_accuracy

    easy = decision_points([0.1, 0.2, 0.3], [3.0, 2.0, 1.0], eval_set="easy")  # all right
    hard = decision_points([0.1, 0.2, 0.3], [5.0, 6.0, 7.0], eval_set="hard")  # all wrong
    result = decision_accuracy(pd.concat([easy, hard]), "ce", 10000, 0)
    assert result["decision_accuracy"] == 0.5 and result["decision_pairs"] == 6
