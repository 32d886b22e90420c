"""Does the candidate rank the panel like a benchmark does, and beyond general quality?

A panel whose models differ mostly in general language-modelling quality ranks every dataset
alike, so a high Kendall tau with the target benchmark alone does not show the candidate taps
its skill. Two tests do: the partial tau of candidate and benchmark given a control corpus's
score (general quality), and a paired bootstrap over models of the difference between the
candidate's tau with the target benchmark and with each other benchmark. Scores are oriented
so that higher is better (bits per byte negated) before any correlation.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from dataalign.analysis import adjusted

FITS = ("linear", "log", "power")


def kendall(x: np.ndarray, y: np.ndarray) -> float:
    """Kendall's tau-b, NaN where either side is constant."""
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    return float(stats.kendalltau(x, y).statistic)


def partial_kendall(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> float:
    """Kendall's partial tau of x and y given z (Kendall 1942): their association once z's
    common influence on both is taken out."""
    xy, xz, yz = kendall(x, y), kendall(x, z), kendall(y, z)
    if np.isclose(abs(xz), 1) or np.isclose(abs(yz), 1):
        return float("nan")  # z orders x (or y) completely: nothing is left to correlate
    return float((xy - xz * yz) / np.sqrt((1 - xz**2) * (1 - yz**2)))


def control_index(wide: pd.DataFrame, controls: Sequence[str]) -> np.ndarray | None:
    """General quality per model: the mean rank over the control corpora (None without any)."""
    if not controls:
        return None
    return np.mean([stats.rankdata(wide[c].to_numpy(float)) for c in controls], axis=0)


def fit_r2(x: np.ndarray, y: np.ndarray, fit: str) -> float:
    """r² of y = a + b x (linear), y = a + b ln|x| (log) or ln|y| = a + b ln|x| (power law).

    The log forms need every value on one side of zero (scores are oriented, so a summed
    log-likelihood is negative throughout); otherwise NaN.
    """
    x, y = _fit_axes(x, y, fit)
    if x is None or len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    return float(np.corrcoef(x, y)[0, 1] ** 2)


def fit_curve(x: np.ndarray, y: np.ndarray, fit: str, grid: np.ndarray) -> np.ndarray | None:
    """The fitted `fit` evaluated on `grid` (x values), for drawing; None if it cannot be fitted."""
    fx, fy = _fit_axes(x, y, fit)
    if fx is None or len(fx) < 2 or np.ptp(fx) == 0:
        return None
    intercept_slope = np.polyfit(fx, fy, 1)
    if fit == "linear":
        return np.polyval(intercept_slope, grid)
    curve = np.polyval(intercept_slope, np.log(np.abs(grid)))
    return curve if fit == "log" else np.sign(y[0]) * np.exp(curve)


def _fit_axes(x: np.ndarray, y: np.ndarray, fit: str) -> tuple[np.ndarray | None, np.ndarray]:
    def one_sided(v: np.ndarray) -> bool:
        return bool((v > 0).all() or (v < 0).all())

    if fit == "linear":
        return x, y
    if not one_sided(x) or (fit == "power" and not one_sided(y)):
        return None, y
    return np.log(np.abs(x)), (y if fit == "log" else np.log(np.abs(y)))


def _bootstrap_p(draws: np.ndarray) -> float:
    """Two-sided bootstrap p of a difference: twice the share of resamples on the far side of 0,
    counting the observed sample among them, so it is never below 2 / (resamples + 1)."""
    draws = draws[~np.isnan(draws)]
    if not len(draws):
        return float("nan")
    far = min((draws <= 0).sum(), (draws >= 0).sum())
    return float(min(1.0, 2 * (far + 1) / (len(draws) + 1)))


def _interval(draws: np.ndarray) -> tuple[float, float]:
    draws = draws[~np.isnan(draws)]
    if not len(draws):
        return float("nan"), float("nan")
    return float(np.percentile(draws, 2.5)), float(np.percentile(draws, 97.5))


def panel_correlations(
    wide: pd.DataFrame,
    candidate: str,
    benchmarks: Sequence[str],
    controls: Sequence[str] = (),
    target: str | None = None,
    resamples: int = 2000,
    seed: int = 0,
) -> pd.DataFrame:
    """One row per benchmark and control: how the candidate's score ranks the models like it.

    `wide` holds oriented scores (index model, one column per dataset). Columns: Kendall tau
    and Spearman rho with p-values; the partial tau given the controls' mean rank with its
    bootstrap CI; the paired-bootstrap difference tau(candidate, target) - tau(candidate, this)
    and the same for partial tau, each with CI and two-sided p; the r² of a linear, log and
    power-law fit of the score on the candidate's. Models are resampled with replacement.
    Holm's correction runs over every comparison in the table (Kendall p and difference p).
    """
    target = target or benchmarks[0]
    z_all = control_index(wide, controls)
    x_all = wide[candidate].to_numpy(float)
    others = [*benchmarks, *controls]
    rng = np.random.default_rng(seed)
    picks = [np.arange(len(wide)), *rng.integers(0, len(wide), (resamples, len(wide)))]
    taus = np.full((len(picks), len(others)), np.nan)
    partials = np.full_like(taus, np.nan)
    for r, pick in enumerate(picks):
        x = x_all[pick]
        for j, name in enumerate(others):
            y = wide[name].to_numpy(float)[pick]
            taus[r, j] = kendall(x, y)
            if z_all is not None and name in benchmarks:
                partials[r, j] = partial_kendall(x, y, z_all[pick])
    t = others.index(target)
    rows = []
    for j, name in enumerate(others):
        x, y = x_all, wide[name].to_numpy(float)
        tau_p = stats.kendalltau(x, y).pvalue if np.ptp(x) and np.ptp(y) else np.nan
        rho, rho_p = stats.spearmanr(x, y) if np.ptp(x) and np.ptp(y) else (np.nan, np.nan)
        role = "target" if name == target else "control" if name in controls else "benchmark"
        row = {
            "benchmark": name, "role": role, "n_models": len(x), "kendall_tau": taus[0, j],
            "kendall_p": tau_p, "spearman_rho": rho, "spearman_p": rho_p,
            "partial_tau": partials[0, j],
        }  # fmt: skip
        row["partial_tau_ci_low"], row["partial_tau_ci_high"] = _interval(partials[1:, j])
        for label, values in (("tau_diff", taus), ("partial_diff", partials)):
            draws = values[1:, t] - values[1:, j]
            missing = name == target or np.isnan(values[0, j])
            row[label] = np.nan if missing else values[0, t] - values[0, j]
            low, high = (np.nan, np.nan) if missing else _interval(draws)
            row[f"{label}_ci_low"], row[f"{label}_ci_high"] = low, high
            row[f"{label}_p"] = np.nan if missing else _bootstrap_p(draws)
        row.update({f"{fit}_r2": fit_r2(x, y, fit) for fit in FITS})
        rows.append(row)
    table = pd.DataFrame(rows)
    family = ["kendall_p", "tau_diff_p", "partial_diff_p"]
    holm = adjusted(table[family].to_numpy().ravel()).reshape(len(table), len(family))
    for k, column in enumerate(family):
        table.insert(table.columns.get_loc(column) + 1, f"{column}_holm", holm[:, k])
    table.insert(table.columns.get_loc("spearman_p") + 1, "spearman_p_holm",
                 adjusted(table["spearman_p"]))  # fmt: skip
    return table


def example_signal(examples: pd.DataFrame, scores: pd.Series, fdr: float = 0.05) -> pd.DataFrame:
    """Per candidate example: Kendall's tau across models of its score vs the benchmark's.

    `examples` has columns model, row, score (oriented); `scores` is the benchmark score by
    model. An answer the better models find *less* likely is a candidate for a wrong key: the
    one-sided p of tau < 0 is corrected over the examples (Benjamini-Hochberg) and `flagged`
    marks those below `fdr`, so with few models nothing is flagged on tau < 0 alone.
    """
    wide = examples.pivot(index="row", columns="model", values="score")
    models = [m for m in wide.columns if m in scores.index]
    benchmark = scores[models].to_numpy(float)
    rows = []
    for row, values in wide[models].iterrows():
        result = stats.kendalltau(values.to_numpy(float), benchmark, alternative="less")
        rows.append({"row": row, "kendall_tau": result.statistic, "p_value": result.pvalue})
    table = pd.DataFrame(rows)
    table["q_value"] = adjusted(table["p_value"], "fdr_bh")
    table["flagged"] = table["q_value"] < fdr
    return table.sort_values(["kendall_tau", "row"], ignore_index=True)


def example_signals(
    examples: pd.DataFrame, benchmarks: pd.DataFrame, fdr: float = 0.05
) -> pd.DataFrame:
    """`example_signal` against every benchmark, with each candidate answer for reading."""
    signals = pd.concat(
        [
            example_signal(examples, group.set_index("model")["score"], fdr).assign(benchmark=name)
            for name, group in benchmarks.groupby("benchmark")
        ],
        ignore_index=True,
    )
    answers = examples.drop_duplicates("row").set_index("row")["answer"]
    return signals.assign(answer=signals["row"].map(answers))
