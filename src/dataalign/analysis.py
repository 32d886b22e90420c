"""Does alignment predict performance? OLS, rank correlations, bootstrap, leave-out, permutation.

The unit of independence is the train set, not the point: disjoint draws (seeds) of one train
set, and one trained model scored on several benchmarks, are several points but one unit. So
standard errors are cluster-robust by train set (t with n_train_sets - 1 degrees of freedom),
the bootstrap resamples train sets with all their points, leave-out prediction leaves a whole
train set out, and the permutation test shuffles alignment across train sets. Train sets that
read the same rows share a unit (`dataalign.config.train_units`).
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

log = logging.getLogger(__name__)
KEYS = ["train", "eval", "seed"]


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


def adjusted(p_values: Sequence[float] | np.ndarray, method: str = "holm") -> np.ndarray:
    """p-values corrected for multiple comparisons (statsmodels' `method`, Holm by default).

    NaN (no test) stays NaN and is not counted in the family.
    """
    from statsmodels.stats.multitest import multipletests

    p_values = np.asarray(p_values, dtype=float)
    corrected = np.full(len(p_values), np.nan)
    testable = ~np.isnan(p_values)
    if testable.any():
        corrected[testable] = multipletests(p_values[testable], method=method)[1]
    return corrected


def leave_one_unit_out(x: np.ndarray, y: np.ndarray, units: np.ndarray) -> np.ndarray:
    """Each point's y predicted by a line fitted to the other train sets' points only."""
    predictions = np.full(len(x), np.nan)
    for unit in np.unique(units):
        out = units == unit
        if len(np.unique(units[~out])) >= 2 and np.ptp(x[~out]) > 0:
            slope, intercept = np.polyfit(x[~out], y[~out], 1)
            predictions[out] = slope * x[out] + intercept
    return predictions


def unit_bootstrap_r2(
    x: np.ndarray, y: np.ndarray, units: np.ndarray, resamples: int, seed: int
) -> tuple[float, float]:
    """Percentile 95% CI of r² over resampled train sets, each drawn with all its points.

    Resamples with one distinct alignment or target (no line to fit) are skipped.
    """
    rng = np.random.default_rng(seed)
    members = [np.flatnonzero(units == unit) for unit in np.unique(units)]
    values = []
    for _ in range(resamples):
        rows = np.concatenate([members[k] for k in rng.integers(0, len(members), len(members))])
        if np.ptp(x[rows]) > 0 and np.ptp(y[rows]) > 0:
            values.append(np.corrcoef(x[rows], y[rows])[0, 1] ** 2)
    if not values:
        return float("nan"), float("nan")
    low, high = np.quantile(values, [0.025, 0.975])
    return float(low), float(high)


def permutation_p(
    points: pd.DataFrame, target: str, permutations: int, seed: int
) -> tuple[float, int]:
    """Two-sided p of |Pearson r| when alignment is shuffled across train sets; and how many.

    Points are averaged to one cell per (train set, eval set); a permutation gives every train
    set another's alignments on all eval sets. All n! orders are enumerated when there are at
    most `permutations` of them (an exact p); otherwise `permutations` random ones are drawn.
    """
    cells = points.groupby(["unit", "eval"])[["alignment", target]].mean()
    x = cells["alignment"].unstack("eval")
    y = cells[target].unstack("eval").loc[x.index, x.columns]
    x, y = x.to_numpy(float), y.to_numpy(float)
    if np.isnan(x).any() or np.isnan(y).any():  # a train set lacks a benchmark: no exchangeability
        return float("nan"), 0
    n = len(x)
    if math.factorial(n) <= permutations:
        orders = np.array(list(itertools.permutations(range(n))))
    else:
        rng = np.random.default_rng(seed)
        orders = np.array([np.arange(n)] + [rng.permutation(n) for _ in range(permutations)])
    shuffled = x[orders].reshape(len(orders), -1)  # one row of alignments per permutation
    flat_y = y.ravel() - y.mean()
    centred = shuffled - shuffled.mean(axis=1, keepdims=True)
    r = centred @ flat_y / (np.linalg.norm(centred, axis=1) * np.linalg.norm(flat_y))
    # the first order is the identity: the observed statistic counts as one of the draws
    return float(np.mean(np.abs(r) >= abs(r[0]) - 1e-12)), len(orders)


def correlate(
    points: pd.DataFrame,
    target: str = "ppl",
    resamples: int = 2000,
    permutations: int = 10000,
    min_train_sets: int = 5,
    seed: int = 0,
) -> dict[str, float | str]:
    """Fit target ~ alignment on `points` with every interval clustered by train set.

    Returns n_points and n_train_sets; the OLS slope with its cluster-robust SE, t CI and p;
    r² with a train-set bootstrap CI; Pearson, Spearman, Kendall over points; the permutation
    p; and leave-one-train-set-out errors. With fewer than `min_train_sets` train sets the
    clustered SE, CI, p and bootstrap CI are left out and `note` says why.
    """
    import statsmodels.api as sm

    x, y = points["alignment"].to_numpy(float), points[target].to_numpy(float)
    units = points["unit"].to_numpy(str)
    n_units = len(np.unique(units))
    result: dict[str, float | str] = {"n_points": len(x), "n_train_sets": n_units, "note": ""}
    if n_units < 3 or np.ptp(x) == 0:
        result["note"] = f"{n_units} train set(s) or one distinct alignment: no fit"
        log.warning("%s", result["note"])
        return result
    codes = pd.factorize(units)[0]
    fit = sm.OLS(y, sm.add_constant(x)).fit(
        cov_type="cluster", cov_kwds={"groups": codes}, use_t=True
    )
    loo = leave_one_unit_out(x, y, units)
    p_permutation, _ = permutation_p(points, target, permutations, seed)
    result.update(
        slope=fit.params[1], intercept=fit.params[0], r2=fit.rsquared,
        pearson=stats.pearsonr(x, y)[0], spearman=stats.spearmanr(x, y)[0],
        kendall=stats.kendalltau(x, y)[0], p_permutation=p_permutation,
        loo_mae=float(np.nanmean(np.abs(loo - y))),
        loo_rmse=float(np.sqrt(np.nanmean((loo - y) ** 2))),
    )  # fmt: skip
    if n_units < min_train_sets:
        result["note"] = (
            f"{n_units} train sets < min_train_sets {min_train_sets}: no clustered SE, CI or p"
        )
        return result
    slope_low, slope_high = fit.conf_int(0.05)[1]
    r2_low, r2_high = unit_bootstrap_r2(x, y, units, resamples, seed)
    result.update(
        slope_se=fit.bse[1], slope_ci_low=slope_low, slope_ci_high=slope_high,
        p_value=fit.pvalues[1], r2_ci_low=r2_low, r2_ci_high=r2_high,
    )  # fmt: skip
    return {k: v if isinstance(v, str) else float(v) for k, v in result.items()}


COLUMNS = [
    "eval", "n_points", "n_train_sets", "slope", "slope_se", "slope_ci_low", "slope_ci_high",
    "intercept", "r2", "r2_ci_low", "r2_ci_high", "p_value", "p_permutation", "pearson",
    "spearman", "kendall", "loo_mae", "loo_rmse", "note",
]  # fmt: skip


def correlation_table(points: pd.DataFrame, target: str, **settings: int) -> pd.DataFrame:
    """One row per eval set and a `pooled` row over all of them (the paper's Fig. 1).

    Every row has the same columns; a number that cannot be estimated is empty, and `note`
    says why. `settings` are `correlate`'s resamples, permutations, min_train_sets and seed.
    """
    groups: Sequence[tuple[str, pd.DataFrame]] = list(points.groupby("eval", sort=True))
    if len(groups) > 1:
        groups = [*groups, ("pooled", points)]
    rows = [{"eval": name, **correlate(group, target, **settings)} for name, group in groups]
    return pd.DataFrame(rows).reindex(columns=COLUMNS)


def adjust_across(tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Every metric's correlation rows in one table with Holm-adjusted p-values.

    The family is every (metric, eval set) fit of an experiment, pooled rows included, so a
    headline p-value is corrected for how many ways alignment was measured and scored.
    """
    rows = pd.concat([t.assign(metric=m) for m, t in tables.items()], ignore_index=True)
    table = rows.reindex(columns=["metric", *COLUMNS])
    table["note"] = table["note"].fillna("")
    table.insert(table.columns.get_loc("p_value") + 1, "p_value_holm", adjusted(table["p_value"]))
    table.insert(
        table.columns.get_loc("p_permutation") + 1,
        "p_permutation_holm",
        adjusted(table["p_permutation"]),
    )
    return table


def base_scores(scores: pd.DataFrame) -> pd.DataFrame | None:
    """The untrained base model's rows of an experiment's evaluations (None if it has none)."""
    base = scores[scores["train"] == "base"]
    return base if len(base) else None


def headline_row(table: pd.DataFrame) -> pd.Series:
    """The row a one-number summary quotes: `pooled` when there are several benchmarks."""
    pooled = table[table["eval"] == "pooled"]
    return (pooled if len(pooled) else table).iloc[0]
