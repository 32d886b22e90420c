"""Does alignment predict performance? OLS, rank correlations, bootstrap and leave-one-out.

n is small (the paper has 7 train sets per setting), so every estimate comes with its interval:
OLS confidence intervals, a bootstrap CI of r², and leave-one-out prediction errors that say
how well one could have predicted a dataset's perplexity before training on it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

log = logging.getLogger(__name__)


def join_points(alignments: pd.DataFrame, scores: pd.DataFrame) -> pd.DataFrame:
    """One row per (train, eval, seed): the alignment next to the trained model's scores."""
    keys = ["train", "eval", "seed"]
    points = alignments[[*keys, "alignment"]].merge(scores[[*keys, "ce", "ppl"]], on=keys)
    return points.sort_values(keys, ignore_index=True)


def leave_one_out(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Each point's y predicted by a line fitted to all the other points."""
    predictions = np.full(len(x), np.nan)
    for i in range(len(x)):
        keep = np.arange(len(x)) != i
        if keep.sum() >= 2 and np.ptp(x[keep]) > 0:
            slope, intercept = np.polyfit(x[keep], y[keep], 1)
            predictions[i] = slope * x[i] + intercept
    return predictions


def bootstrap_r2(x: np.ndarray, y: np.ndarray, resamples: int, seed: int) -> tuple[float, float]:
    """Percentile 95% CI of r² over resampled points (resamples with one distinct x are skipped)."""
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(resamples):
        pick = rng.integers(0, len(x), len(x))
        if np.ptp(x[pick]) > 0 and np.ptp(y[pick]) > 0:
            values.append(np.corrcoef(x[pick], y[pick])[0, 1] ** 2)
    if not values:
        return float("nan"), float("nan")
    low, high = np.quantile(values, [0.025, 0.975])
    return float(low), float(high)


def correlate(
    points: pd.DataFrame, target: str = "ppl", resamples: int = 2000, seed: int = 0
) -> dict[str, float]:
    """Fit target ~ alignment on `points`: OLS, Pearson, Spearman, Kendall, bootstrap, LOO."""
    import statsmodels.api as sm

    x, y = points["alignment"].to_numpy(float), points[target].to_numpy(float)
    result: dict[str, float] = {"n": len(x)}
    if len(x) < 3 or np.ptp(x) == 0:
        log.warning("%d points (or one distinct alignment): no fit", len(x))
        return result
    fit = sm.OLS(y, sm.add_constant(x)).fit()
    (intercept_low, intercept_high), (slope_low, slope_high) = fit.conf_int(0.05)
    loo = leave_one_out(x, y)
    r2_low, r2_high = bootstrap_r2(x, y, resamples, seed)
    result.update(
        slope=fit.params[1], slope_ci_low=slope_low, slope_ci_high=slope_high,
        intercept=fit.params[0], intercept_ci_low=intercept_low, intercept_ci_high=intercept_high,
        r2=fit.rsquared, r2_ci_low=r2_low, r2_ci_high=r2_high, p_value=fit.pvalues[1],
        pearson=stats.pearsonr(x, y)[0], spearman=stats.spearmanr(x, y)[0],
        kendall=stats.kendalltau(x, y)[0],
        loo_mae=float(np.nanmean(np.abs(loo - y))),
        loo_rmse=float(np.sqrt(np.nanmean((loo - y) ** 2))),
    )  # fmt: skip
    return {k: float(v) for k, v in result.items()}


def correlation_table(
    points: pd.DataFrame, target: str, resamples: int = 2000, seed: int = 0
) -> pd.DataFrame:
    """One row per eval set and a `pooled` row over all of them (the paper's Fig. 1)."""
    groups: Sequence[tuple[str, pd.DataFrame]] = list(points.groupby("eval", sort=True))
    if len(groups) > 1:
        groups = [*groups, ("pooled", points)]
    rows = [{"eval": name, **correlate(group, target, resamples, seed)} for name, group in groups]
    return pd.DataFrame(rows)


def base_scores(scores: pd.DataFrame) -> pd.DataFrame | None:
    """The untrained base model's rows of an experiment's evaluations (None if it has none)."""
    base = scores[scores["train"] == "base"]
    return base if len(base) else None


def headline_row(table: pd.DataFrame) -> pd.Series:
    """The row a one-number summary quotes: `pooled` when there are several benchmarks."""
    pooled = table[table["eval"] == "pooled"]
    return (pooled if len(pooled) else table).iloc[0]


def panel_correlations(totals: pd.Series, benchmarks: pd.DataFrame) -> pd.DataFrame:
    """How well the panel's candidate log-likelihood ranks models like each benchmark does.

    `totals` is the summed candidate log-likelihood by model; `benchmarks` has columns model,
    benchmark, score. Kendall's tau and Spearman's rho with p-values corrected for the number
    of benchmarks (Holm and Bonferroni), and the r² of a linear and a logarithmic fit of the
    score: score = a + b * LL and score = a + b * ln(-LL) (the blog found the latter).
    """
    from statsmodels.stats.multitest import multipletests

    rows = []
    for name, group in benchmarks.groupby("benchmark", sort=True):
        joined = (
            group.set_index("model")["score"]
            .astype(float)
            .to_frame()
            .join(totals.rename("loglik"), how="inner")
        )
        x, y = joined["loglik"].to_numpy(float), joined["score"].to_numpy(float)
        tau, tau_p = stats.kendalltau(x, y)
        rho, rho_p = stats.spearmanr(x, y)
        rows.append(
            {
                "benchmark": name, "n_models": len(x), "kendall_tau": tau, "kendall_p": tau_p,
                "spearman_rho": rho, "spearman_p": rho_p,
                "linear_r2": _r2(x, y), "log_r2": _r2(np.log(-x), y) if (x < 0).all() else np.nan,
            }
        )  # fmt: skip
    table = pd.DataFrame(rows)
    for test in ("kendall", "spearman"):
        p_values = table[f"{test}_p"].to_numpy(float)
        testable = ~np.isnan(p_values)
        for method in ("holm", "bonferroni"):
            corrected = np.full(len(p_values), np.nan)
            if testable.any():
                corrected[testable] = multipletests(p_values[testable], method=method)[1]
            table[f"{test}_p_{method}"] = corrected
    return table


def _r2(x: np.ndarray, y: np.ndarray) -> float:
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    return float(np.corrcoef(x, y)[0, 1] ** 2)


def example_signal(examples: pd.DataFrame, scores: pd.Series) -> pd.DataFrame:
    """Per candidate example: Kendall's tau across models of its log-likelihood vs the benchmark.

    `examples` has columns model, row, loglik; `scores` is the benchmark score by model. An
    answer that the better models find *less* likely (tau < 0) is a candidate for a wrong key.
    """
    wide = examples.pivot(index="row", columns="model", values="loglik")
    models = [m for m in wide.columns if m in scores.index]
    benchmark = scores[models].to_numpy(float)
    rows = []
    for row, values in wide[models].iterrows():
        tau, p_value = stats.kendalltau(values.to_numpy(float), benchmark)
        rows.append({"row": row, "kendall_tau": tau, "p_value": p_value, "negative": tau < 0})
    return pd.DataFrame(rows).sort_values(["kendall_tau", "row"], ignore_index=True)


def example_signals(examples: pd.DataFrame, benchmarks: pd.DataFrame) -> pd.DataFrame:
    """`example_signal` against every benchmark, with each candidate answer for reading."""
    signals = pd.concat(
        [
            example_signal(examples, group.set_index("model")["score"]).assign(benchmark=name)
            for name, group in benchmarks.groupby("benchmark")
        ],
        ignore_index=True,
    )
    answers = examples.drop_duplicates("row").set_index("row")["answer"]
    return signals.assign(answer=signals["row"].map(answers))
