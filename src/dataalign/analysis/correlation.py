"""Does alignment predict performance? One calibrated fit of loss on alignment per eval set.

Each row puts the calibrated slope tests, r² and the permutation p (`inference`) beside the
decision accuracy (`decisions`); a row where the wild cluster and the CR2-BM p disagree at 5%
says so in `note`. Pooling over benchmarks fits alignment *within* benchmarks (a fixed effect
per benchmark), so a benchmark that is both easier and more aligned cannot make a fit of its
own; the paper's raw pooling is kept as its own row, `pooled_raw`. Across metrics the p-values
are Holm-adjusted (`adjust_across`).

Train sets that read the same rows share a unit (`dataalign.plan.lookup.train_units`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np
import pandas as pd
from scipy import stats

from dataalign.analysis import BASE
from dataalign.analysis.decisions import decision_accuracy
from dataalign.analysis.inference import (
    LEVEL,
    cr2_slope,
    demeaned,
    leave_one_unit_out,
    nuisance,
    permutation_p,
    unit_bootstrap_r2,
    wild_cluster_ci,
    wild_cluster_p,
)
from dataalign.analysis.multiple_testing import adjusted
from dataalign.schemas import defaults

log = logging.getLogger(__name__)
KEYS = ["train", "eval", "seed"]
POOLED, POOLED_RAW = "pooled", "pooled_raw"
ANALYSIS = defaults("analysis")  # an experiment's `analysis:` defaults


def join_points(
    alignments: pd.DataFrame, scores: pd.DataFrame, units: Mapping[str, str] | None = None
) -> pd.DataFrame:
    """One row per (train, eval, seed): the alignment next to the trained model's scores.

    `unit` names the independent unit each train set belongs to (itself unless `units` says
    it reads the same rows as another).
    """
    points = alignments[[*KEYS, "alignment"]].merge(scores[[*KEYS, "ce", "ppl"]], on=KEYS)
    points["unit"] = points["train"].map(lambda train: (units or {}).get(train, train))
    return points.sort_values(KEYS, ignore_index=True)


def correlate(
    points: pd.DataFrame,
    target: str = ANALYSIS["target"],
    resamples: int = ANALYSIS["bootstrap"],
    permutations: int = ANALYSIS["permutations"],
    min_train_sets: int = ANALYSIS["min_train_sets"],
    seed: int = ANALYSIS["seed"],
    within: bool = False,
) -> dict[str, float | str]:
    """Fit target ~ alignment on `points` with every test calibrated for a few train sets.

    Returns n_points and n_train_sets; the OLS slope with its CR2 SE and Bell-McCaffrey df, the
    wild cluster bootstrap p and inverted CI; r² with a train-set bootstrap CI (descriptive);
    Pearson, Spearman, Kendall over points; the permutation p and the smallest p its orders
    allow; decision accuracy over every pair with its CI, pairs, pairs within noise, exact
    permutation p and the decided-pairs-only share (`decision_accuracy`); and
    leave-one-train-set-out errors with how many train sets were predicted. `note` says why a
    number is missing, and where the wild and the CR2-BM p disagree at 5% (`disagreement`).
    `within` fits within benchmarks (a fixed effect per benchmark): r² and every correlation
    are then the within-benchmark ones and there is no single intercept. With fewer than
    `min_train_sets` train sets the tests and the bootstrap CI are left out and `note` says why.
    """
    evals = points["eval"].to_numpy(str)
    x, y = points["alignment"].to_numpy(float), points[target].to_numpy(float)
    units = points["unit"].to_numpy(str)
    n_units = len(np.unique(units))
    result: dict[str, float | str] = {"n_points": len(x), "n_train_sets": n_units, "note": ""}
    dx, dy = (demeaned(v, evals) for v in (x, y)) if within else (x - x.mean(), y - y.mean())
    if n_units < 3 or np.ptp(dx) == 0:
        result["note"] = f"{n_units} train set(s) or one distinct alignment: no fit"
        log.warning("%s", result["note"])
        return result
    z = nuisance(evals, within)
    slope, slope_se, slope_df = cr2_slope(x, y, z, units)
    loo = leave_one_unit_out(x, y, units, evals if within else None)
    predicted = ~np.isnan(loo)
    errors = (loo - y)[predicted] if predicted.any() else np.full(1, np.nan)
    p_permutation, orders = permutation_p(points, target, permutations, seed, within)
    gated = n_units < min_train_sets  # no interval below min_train_sets, as for r²
    decisions = decision_accuracy(points, target, permutations, seed, interval=not gated)
    result.update(**decisions)
    result.update(
        slope=slope,
        intercept=np.nan if within else y.mean() - slope * x.mean(),
        r2=np.corrcoef(dx, dy)[0, 1] ** 2 if np.ptp(dy) else 0.0,
        pearson=stats.pearsonr(dx, dy)[0],
        spearman=stats.spearmanr(dx, dy)[0],
        kendall=stats.kendalltau(dx, dy)[0],
        p_permutation=p_permutation,
        p_permutation_min=1 / orders if orders else np.nan,
        loo_mae=np.mean(np.abs(errors)),
        loo_rmse=np.sqrt(np.mean(errors**2)),
        loo_train_sets=len(np.unique(units[predicted])),
    )
    if result["loo_train_sets"] < n_units:
        result["note"] = f"leave-out predicted {result['loo_train_sets']} of {n_units} train sets"
    if gated:
        result["note"] = (
            f"{n_units} train sets < min_train_sets {min_train_sets}: no slope SE, CI or p"
        )
        return _floats(result)
    low, high = wild_cluster_ci(x, y, z, units, slope, slope_se, seed)
    r2_low, r2_high = unit_bootstrap_r2(x, y, units, resamples, seed, evals if within else None)
    result.update(
        slope_se=slope_se,
        slope_df=slope_df,
        slope_ci_low=low,
        slope_ci_high=high,
        p_value=wild_cluster_p(x, y, z, units, 0.0, seed),
        p_cr2=2 * stats.t.sf(abs(slope / slope_se), slope_df) if slope_se > 0 else np.nan,
        r2_ci_low=r2_low,
        r2_ci_high=r2_high,
    )
    if (result["p_value"] < 1 - LEVEL) != (result["p_cr2"] < 1 - LEVEL):
        result["note"] = "; ".join(filter(None, [result["note"], disagreement(result)]))
    return _floats(result)


def disagreement(result: Mapping[str, float | str]) -> str:
    """What a row says when the wild cluster and the CR2-BM p fall on either side of 5%."""
    wild, cr2 = result["p_value"], result["p_cr2"]
    why = (
        "the wild bootstrap over-rejects when high-leverage train sets are also noisier"
        if wild < cr2
        else "the wild bootstrap is the more conservative at few train sets (CR2-BM's df assume "
        "alike errors)"
    )
    return f"wild bootstrap p {wild:.3g} and CR2-BM p {cr2:.3g} disagree at {1 - LEVEL:.0%}: {why}"


def _floats(result: dict[str, float | str]) -> dict[str, float | str]:
    return {k: v if isinstance(v, str) else float(v) for k, v in result.items()}


COLUMNS = [
    "eval",
    "n_points",
    "n_train_sets",
    "slope",
    "slope_se",
    "slope_df",
    "slope_ci_low",
    "slope_ci_high",
    "intercept",
    "r2",
    "r2_ci_low",
    "r2_ci_high",
    "p_value",
    "p_cr2",
    "p_permutation",
    "p_permutation_min",
    "pearson",
    "spearman",
    "kendall",
    "decision_accuracy",
    "decision_ci_low",
    "decision_ci_high",
    "decision_pairs",
    "decision_ties",
    "p_decision",
    "decision_accuracy_decided",
    "loo_mae",
    "loo_rmse",
    "loo_train_sets",
    "note",
]


def correlation_table(points: pd.DataFrame, target: str, **settings: int) -> pd.DataFrame:
    """One row per eval set, and with several a `pooled` row fitted within benchmarks and a
    `pooled_raw` row that pools every point on one line (the paper's Fig. 1; confounded when
    a benchmark is both easier and more aligned).

    Every row has the same columns; a number that cannot be estimated is empty, and `note`
    says why. `settings` are `correlate`'s resamples, permutations, min_train_sets and seed.
    """
    groups = [(name, group, False) for name, group in points.groupby("eval", sort=True)]
    if len(groups) > 1:
        groups += [(POOLED, points, True), (POOLED_RAW, points, False)]
    rows = [
        {"eval": name, **correlate(group, target, within=within, **settings)}
        for name, group, within in groups
    ]
    return pd.DataFrame(rows).reindex(columns=COLUMNS)


def adjust_across(tables: Mapping[str, pd.DataFrame], alpha: float = 0.05) -> pd.DataFrame:
    """Every metric's correlation rows in one table with Holm-adjusted p-values.

    The family is every (metric, eval set) fit of an experiment, the within-benchmark pooled
    rows included (the raw pooled rows are descriptive and stay out), so a headline p is
    corrected for how many ways alignment was measured and scored. Where the family is too
    large for the smallest permutation p to reach `alpha` after correction, `note` says so.
    """
    rows = pd.concat([t.assign(metric=m) for m, t in tables.items()], ignore_index=True)
    table = rows.reindex(columns=["metric", *COLUMNS])
    table["note"] = table["note"].fillna("")
    family = table["eval"] != POOLED_RAW
    for column in ("p_value", "p_permutation", "p_decision"):
        holm = np.full(len(table), np.nan)
        holm[family.to_numpy()] = adjusted(table.loc[family, column])
        table.insert(table.columns.get_loc(column) + 1, f"{column}_holm", holm)
    size = int(table.loc[family, "p_permutation"].notna().sum())
    floor = (table["p_permutation_min"] * size).clip(upper=1)
    for row in table.index[family & (floor > alpha)]:
        said = f"Holm over {size} fits: no permutation p can go below {floor[row]:.3g}"
        table.loc[row, "note"] = "; ".join(filter(None, [table.loc[row, "note"], said]))
    return table


def base_scores(scores: pd.DataFrame) -> pd.DataFrame | None:
    """The untrained base model's rows of an experiment's evaluations (None if it has none)."""
    base = scores[scores["train"] == BASE]
    return base if len(base) else None


def headline_row(table: pd.DataFrame) -> pd.Series:
    """The row a one-number summary quotes: the within-benchmark `pooled` row when there are
    several benchmarks."""
    pooled = table[table["eval"] == POOLED]
    return (pooled if len(pooled) else table).iloc[0]
