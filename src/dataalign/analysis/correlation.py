"""Does alignment predict performance? OLS, calibrated cluster tests, leave-out, permutation.

The unit of independence is the train set, not the point: disjoint draws (seeds) of one train
set, and one trained model scored on several benchmarks, are several points but one unit. The
pipeline runs 5-8 train sets, where the usual cluster-robust t-test (CR1, t on G - 1 df) rejects
a true null 12-20% of the time, so every test here is calibrated at that size:

- the slope's p and CI come from the wild cluster bootstrap with the null imposed (WCR, Webb's
  six-point weights, all 6^G weight patterns enumerated for G <= 5 train sets), the CI by
  inverting that test; its SE is CR2 (bias-reduced linearisation) with Bell-McCaffrey degrees
  of freedom beside it. At 5-7 train sets x 2 draws the WCR p rejects 4-6% of true nulls
  (`tests/unit/test_calibration.py`), CR2-BM 2.5-3.5% (conservative), CR1 13-17%. The WCR is
  not assumption-free: when the high-alignment train sets are also twice as noisy it rejects
  6.9% at 7 train sets (CR2-BM 3.5%), so a row where the two disagree at 5% says so in `note`;
- the permutation p shuffles alignment across train sets (exact over all n! orders): a test
  of independence, which also rejects when alignment changes the loss's spread, not its mean;
- decision accuracy counts every pair of train sets, DataDecide's way (`decision_accuracy`);
- the r² interval resamples train sets with all their points: descriptive, not a test (at a
  true r² of 0 its lower bound is above 0);
- pooling over benchmarks fits alignment *within* benchmarks (a fixed effect per benchmark),
  so a benchmark that is both easier and more aligned cannot make a fit of its own; the
  paper's raw pooling is kept as its own row, `pooled_raw`.

Train sets that read the same rows share a unit (`dataalign.plan.lookup.train_units`).
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
LEVEL = 0.95
WEBB = np.array([-math.sqrt(1.5), -1.0, -math.sqrt(0.5), math.sqrt(0.5), 1.0, math.sqrt(1.5)])
WILD_DRAWS = 9999  # bootstrap samples; all 6^G weight patterns when fewer (G <= 5)
POOLED, POOLED_RAW = "pooled", "pooled_raw"


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

    NaN (no test) stays NaN and is not counted in the family. Holm is computed here (the same
    numbers): statsmodels' runs a full garbage collection on every call, 0.2 s in a large
    process, which simulations calling it thousands of times cannot afford.
    """
    from statsmodels.stats.multitest import multipletests

    p_values = np.asarray(p_values, dtype=float)
    corrected = np.full(len(p_values), np.nan)
    testable = ~np.isnan(p_values)
    if testable.any() and method == "holm":
        corrected[testable] = holm(p_values[testable])
    elif testable.any():
        corrected[testable] = multipletests(p_values[testable], method=method)[1]
    return corrected


def holm(p_values: np.ndarray) -> np.ndarray:
    """Holm's step-down adjustment: the k-th smallest p times (m - k + 1), made monotone."""
    order = np.argsort(p_values, kind="stable")
    stepped = np.maximum.accumulate(p_values[order] * np.arange(len(order), 0, -1))
    corrected = np.empty(len(order))
    corrected[order] = np.minimum(stepped, 1.0)
    return corrected


def nuisance(evals: np.ndarray, within: bool) -> np.ndarray:
    """The columns besides alignment: an intercept, or one per benchmark (fixed effects)."""
    if not within:
        return np.ones((len(evals), 1))
    codes = pd.factorize(evals)[0]
    return np.eye(codes.max() + 1)[codes]


def demeaned(values: np.ndarray, evals: np.ndarray) -> np.ndarray:
    """`values` minus their benchmark's mean: what a benchmark fixed effect leaves."""
    codes = pd.factorize(evals)[0]
    means = np.bincount(codes, values) / np.bincount(codes)
    return values - means[codes]


def cr2_slope(
    x: np.ndarray, y: np.ndarray, z: np.ndarray, units: np.ndarray
) -> tuple[float, float, float]:
    """OLS slope of y on x (with nuisance columns z), its CR2 SE and Bell-McCaffrey df.

    CR2 scales each train set's residuals by (I - H_gg)^(-1/2), which undoes OLS shrinking them
    towards the fit; the df are those of the Satterthwaite approximation under independent
    errors (Imbens & Kolesar 2016), well below G - 1 when a few train sets carry the leverage.
    """
    X = np.column_stack([z, x])
    bread = np.linalg.pinv(X.T @ X)
    beta = bread @ X.T @ y
    residuals = y - X @ beta
    annihilator = np.eye(len(y)) - X @ bread @ X.T
    weights = X @ bread[:, -1]  # the slope = weights @ y
    meat, columns = 0.0, []
    for unit in np.unique(units):
        rows = np.flatnonzero(units == unit)
        values, vectors = np.linalg.eigh(annihilator[np.ix_(rows, rows)])
        scale = np.where(values > 1e-10, 1 / np.sqrt(np.clip(values, 1e-10, None)), 0.0)
        adjusted_weights = vectors @ (scale * (vectors.T @ weights[rows]))
        meat += float(adjusted_weights @ residuals[rows]) ** 2
        columns.append(annihilator[:, rows] @ adjusted_weights)
    eigen = np.linalg.eigvalsh(np.array(columns) @ np.array(columns).T)
    df = float(eigen.sum() ** 2 / (eigen**2).sum()) if eigen.sum() > 0 else float("nan")
    return float(beta[-1]), math.sqrt(meat), df


def wild_cluster_p(
    x: np.ndarray,
    y: np.ndarray,
    z: np.ndarray,
    units: np.ndarray,
    slope0: float = 0.0,
    seed: int = 0,
) -> float:
    """Two-sided p of slope = `slope0` by the restricted wild cluster bootstrap (Webb weights).

    The null is imposed (y - slope0 x fitted on z alone), each train set's restricted residuals
    are flipped by one Webb weight, and the CR1 t-statistic of every bootstrap sample is
    compared with the observed one. With G <= 5 train sets all 6^G weight patterns are
    enumerated (the p is exact for the bootstrap); beyond, 9,999 are drawn with `seed`.
    """
    codes = pd.factorize(units)[0]
    groups, n = codes.max() + 1, len(y)
    membership = np.eye(groups)[codes]  # points x train sets
    X = np.column_stack([z, x])
    projection = np.linalg.pinv(X)  # coefficients = projection @ y
    weights = projection[-1]
    scale = groups / (groups - 1) * (n - 1) / max(n - X.shape[1], 1)

    def t_statistics(samples: np.ndarray) -> np.ndarray:
        coefficients = samples @ projection.T
        residuals = samples - coefficients @ X.T
        scores = (weights * residuals) @ membership
        se = np.sqrt(scale * (scores**2).sum(axis=1))
        with np.errstate(divide="ignore", invalid="ignore"):
            return (coefficients[:, -1] - slope0) / se

    observed = t_statistics(y[None])[0]
    restricted = y - slope0 * x
    fitted = z @ np.linalg.lstsq(z, restricted, rcond=None)[0]
    if len(WEBB) ** groups <= WILD_DRAWS:
        patterns = np.array(list(itertools.product(WEBB, repeat=groups)))
        extra = 0
    else:
        patterns = WEBB[np.random.default_rng(seed).integers(0, len(WEBB), (WILD_DRAWS, groups))]
        extra = 1  # the observed sample counts as one of the draws
    samples = fitted + slope0 * x + patterns[:, codes] * (restricted - fitted)
    t = t_statistics(samples)
    far = np.sum(np.abs(t) >= abs(observed) * (1 - 1e-9))
    return float((far + extra) / (len(t) + extra))


def wild_cluster_ci(
    x: np.ndarray,
    y: np.ndarray,
    z: np.ndarray,
    units: np.ndarray,
    slope: float,
    se: float,
    seed: int = 0,
    level: float = LEVEL,
) -> tuple[float, float]:
    """The slopes the wild cluster test does not reject at 1 - `level`: its inverted CI.

    Each bound is bracketed by stepping out from the estimate in CR2 standard errors, then
    found by bisection to 1e-3 SE.
    """
    alpha = 1 - level

    def rejected(value: float) -> bool:
        return wild_cluster_p(x, y, z, units, value, seed) < alpha

    bounds = []
    for direction in (-1.0, 1.0):
        inside, step = slope, max(se, 1e-12)
        outside = slope + direction * step
        while not rejected(outside):
            inside, step = outside, 2 * step
            outside = slope + direction * step
            if step > 1e6 * max(se, 1e-12):
                outside = direction * math.inf
                break
        while math.isfinite(outside) and abs(outside - inside) > 1e-3 * max(se, 1e-12):
            middle = (inside + outside) / 2
            inside, outside = (inside, middle) if rejected(middle) else (middle, outside)
        bounds.append((inside + outside) / 2 if math.isfinite(outside) else outside)
    return bounds[0], bounds[1]


def leave_one_unit_out(
    x: np.ndarray, y: np.ndarray, units: np.ndarray, evals: np.ndarray | None = None
) -> np.ndarray:
    """Each point's y predicted by a line fitted to the other train sets' points only.

    With `evals`, the line is fitted within benchmarks (each benchmark's own level, one common
    slope) and a point is predicted from its benchmark's level among the others.
    """
    evals = np.zeros(len(x), dtype=int) if evals is None else evals
    predictions = np.full(len(x), np.nan)
    for unit in np.unique(units):
        out, rest = units == unit, units != unit
        if len(np.unique(units[rest])) < 2:
            continue
        dx, dy = demeaned(x[rest], evals[rest]), demeaned(y[rest], evals[rest])
        if not np.any(dx):
            continue
        slope = float(dx @ dy / (dx @ dx))
        for benchmark in np.unique(evals[out]):
            own, here = rest & (evals == benchmark), out & (evals == benchmark)
            if own.any():
                predictions[here] = y[own].mean() + slope * (x[here] - x[own].mean())
    return predictions


def unit_bootstrap_r2(
    x: np.ndarray,
    y: np.ndarray,
    units: np.ndarray,
    resamples: int,
    seed: int,
    evals: np.ndarray | None = None,
) -> tuple[float, float]:
    """Percentile 95% CI of r² over resampled train sets, each drawn with all its points.

    Descriptive, not a test: r² is never below 0, so the interval cannot cover 0. With `evals`
    the r² is the within-benchmark one. Resamples with nothing to fit are skipped.
    """
    rng = np.random.default_rng(seed)
    evals = np.zeros(len(x), dtype=int) if evals is None else evals
    members = [np.flatnonzero(units == unit) for unit in np.unique(units)]
    values = []
    for _ in range(resamples):
        rows = np.concatenate([members[k] for k in rng.integers(0, len(members), len(members))])
        dx, dy = demeaned(x[rows], evals[rows]), demeaned(y[rows], evals[rows])
        if np.ptp(dx) > 0 and np.ptp(dy) > 0:
            values.append(np.corrcoef(dx, dy)[0, 1] ** 2)
    if not values:
        return float("nan"), float("nan")
    low, high = np.quantile(values, [0.025, 0.975])
    return float(low), float(high)


def unit_matrices(points: pd.DataFrame, target: str) -> tuple[np.ndarray, np.ndarray]:
    """Alignment and target averaged to one cell per (train set, eval set): two units x evals
    matrices, NaN where a train set lacks a benchmark."""
    cells = points.groupby(["unit", "eval"])[["alignment", target]].mean()
    x = cells["alignment"].unstack("eval")
    y = cells[target].unstack("eval").loc[x.index, x.columns]
    return x.to_numpy(float), y.to_numpy(float)


def orders_of(n: int, permutations: int, seed: int, exact_up_to: int = 0) -> np.ndarray:
    """Orders of n train sets: all n! (identity first) when n! <= `permutations` or n <=
    `exact_up_to`, else the identity and `permutations` random ones."""
    if math.factorial(n) <= permutations or n <= exact_up_to:
        return np.array(list(itertools.permutations(range(n))))
    rng = np.random.default_rng(seed)
    return np.array([np.arange(n)] + [rng.permutation(n) for _ in range(permutations)])


def permutation_p(
    points: pd.DataFrame, target: str, permutations: int, seed: int, within: bool = True
) -> tuple[float, int]:
    """Two-sided p of |r| when alignment is shuffled across train sets; and how many orders.

    A test of independence: alignment and target unrelated across train sets, not only a zero
    slope. Points are averaged to one cell per (train set, eval set); a permutation gives every
    train set another's alignments on all eval sets; r is the correlation within benchmarks
    (each benchmark's column centred), or with `within=False` the raw r over every cell. All n!
    orders are enumerated when there are at most `permutations` of them (an exact p, at least
    1/n!); otherwise `permutations` random ones.
    """
    x, y = unit_matrices(points, target)
    if np.isnan(x).any() or np.isnan(y).any():  # a train set lacks a benchmark: no exchangeability
        return float("nan"), 0
    orders = orders_of(len(x), permutations, seed)
    axis = 0 if within else None
    shuffled = x[orders] - x.mean(axis=axis)  # permutations x train sets x benchmarks
    centred_y = (y - y.mean(axis=axis)).ravel()
    flat = shuffled.reshape(len(orders), -1)
    r = flat @ centred_y / (np.linalg.norm(flat, axis=1) * np.linalg.norm(centred_y))
    # the first order is the identity: the observed statistic counts as one of the draws
    return float(np.mean(np.abs(r) >= abs(r[0]) - 1e-12)), len(orders)


EXACT_DECISIONS = 8  # train sets up to which the decision-accuracy p enumerates all n! orders
DECISION_COLUMNS = [
    "decision_accuracy",
    "decision_ci_low",
    "decision_ci_high",
    "p_decision",
    "decision_accuracy_decided",
]


def decided_pairs(points: pd.DataFrame, target: str) -> np.ndarray:
    """Which pairs of train sets (units x units x evals) differ in target beyond the draws' noise.

    A pair is within noise when its target difference is below 1.96 standard errors of a
    difference of means, from the within-train-set variance of the target pooled over train
    sets (one draw each: only exact ties). Pairs of a train set with itself, and cells a train
    set lacks, are left out too. Only the secondary `decision_accuracy_decided` drops the pairs
    within noise: they are the hard decisions, and leaving them out flatters alignment.
    """
    cells = points.groupby(["unit", "eval"])[target].agg(["mean", "var", "count"])
    means = cells["mean"].unstack("eval")
    draws = cells["count"].unstack("eval").loc[means.index, means.columns].to_numpy(float)
    pooled = cells["var"].unstack("eval").loc[means.index, means.columns].mean(axis=0)
    variance = np.nan_to_num(pooled.to_numpy(float))  # one draw each: no noise estimate
    y = means.to_numpy(float)
    gap = np.abs(y[:, None] - y[None, :])
    noise = 1.96 * np.sqrt(variance * (1 / draws[:, None] + 1 / draws[None, :]))
    decided = gap > np.where(np.isnan(noise), 0.0, noise)
    decided &= ~np.eye(len(y), dtype=bool)[..., None]
    return decided & ~np.isnan(gap)


def agreements(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per pair of train sets and benchmark: 1 when the more aligned one has the lower target,
    0 when the higher, 1/2 when their alignments or their targets tie: (..., n, n, evals)."""
    dx = x[..., :, None, :] - x[..., None, :, :]
    dy = y[:, None, :] - y[None, :, :]
    return np.where((dx == 0) | (dy == 0), 0.5, (np.sign(dx) == -np.sign(dy)).astype(float))


def null_variance(units: int) -> float:
    """Variance of the share of concordant pairs of `units` independent draws of two unrelated
    continuous quantities: Kendall's tau's 2(2n + 5) / 9n(n - 1), over 4."""
    return (2 * units + 5) / (18 * units * (units - 1))


def concordance_interval(
    accuracy: float, variance: float, null_share: float, units: int, level: float = LEVEL
) -> tuple[float, float]:
    """The concordances c a normal test does not reject: |accuracy - c| <= z sqrt(V(c)), with
    V(c) the estimated `variance` kept between two bounds evaluated at c: at least
    4 c (1 - c) `null_share` (what an unrelated alignment's accuracy has at c = 1/2) and at
    most 2 c (1 - c) / `units` (Hoeffding's bound for a mean over pairs of a [0, 1] kernel).

    The estimate alone collapses to zero width when every pair agrees (at 5 train sets and a
    true 0.82, one fit in six) and spans [0, 1] when a few train sets disagree wildly; the
    bounds, evaluated at the c tested rather than at the estimate (a score interval, as
    Wilson's for a proportion), keep it open on the side the data cannot rule out and shut
    where no population could put it.
    """
    grid = np.linspace(0.0, 1.0, 20001)
    spread = grid * (1 - grid)
    bounded = np.clip(variance, 4 * spread * null_share, 2 * spread / units)
    inside = np.abs(accuracy - grid) <= stats.norm.ppf((1 + level) / 2) * np.sqrt(bounded)
    return float(grid[inside].min()), float(grid[inside].max())


def pooled_null_variance(agree: np.ndarray, counted: np.ndarray, units: np.ndarray) -> float:
    """The variance an unrelated alignment's accuracy has at 1/2 when its pairs span several
    benchmarks: each benchmark's (`null_variance`), pair-weighted, with the benchmarks
    correlated as much as the train sets' own shares of agreeing pairs are across them (the
    same train sets score every benchmark, so benchmarks are rarely independent)."""
    pairs = counted.sum(axis=(0, 1))
    weights = np.array(
        [
            m / pairs.sum() * math.sqrt(null_variance(n)) if m else 0.0
            for m, n in zip(pairs, units, strict=True)
        ]
    )
    both = counted | counted.transpose(1, 0, 2)
    mine = np.where(counted, agree, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        shares = (mine + mine.transpose(1, 0, 2)).sum(axis=1) / both.sum(axis=1)  # units x evals
    used = weights > 0
    correlation = np.eye(len(weights))
    if used.sum() > 1:
        frame = pd.DataFrame(shares[:, used])
        estimated = frame.corr(min_periods=3).to_numpy()
        fill = np.clip(np.nan_to_num(estimated, nan=1.0), 0.0, 1.0)
        correlation[np.ix_(used, used)] = np.where(np.eye(used.sum(), dtype=bool), 1.0, fill)
    return float(weights @ correlation @ weights)


def u_statistic_variance(agree: np.ndarray, counted: np.ndarray) -> float:
    """Sen's variance of a mean over pairs of train sets, 4 s² / n: s² is the sample variance
    of each train set's mean agreement over the counted pairs it is in (the U-statistic's
    Hoeffding projection), so train sets, not pairs, are the independent units."""
    both = counted | counted.transpose(1, 0, 2)
    mine = np.where(counted, agree, 0.0)
    shares = (mine + mine.transpose(1, 0, 2)).sum(axis=(1, 2)) / both.sum(axis=(1, 2))
    shares = shares[both.any(axis=(1, 2))]
    return float(4 * shares.var(ddof=1) / len(shares))


def decision_accuracy(
    points: pd.DataFrame, target: str, permutations: int, seed: int, interval: bool = True
) -> dict[str, float]:
    """How often alignment picks the better of two train sets: DataDecide's decision accuracy.

    Over every pair of train sets on every benchmark, the target being each train set's mean
    over its draws (seeds): the share of pairs where the more aligned one has the lower target,
    a tie in alignment or in target counted 1/2, so an unrelated alignment scores 1/2 — a
    rescaled Kendall tau, (1 + tau) / 2, a U-statistic over train sets. The 95% interval
    (`interval`, at least 3 train sets) inverts a normal test whose variance is Sen's over train
    sets (`u_statistic_variance`), kept within bounds evaluated at the concordance tested
    (`concordance_interval`). The one-sided permutation p of an accuracy
    this high with alignment shuffled across train sets enumerates all n! orders for up to 8
    train sets (exact), else `permutations` random ones (0: no p).

    `decision_accuracy_decided` is the share over pairs whose targets differ beyond the draws'
    noise only (`decided_pairs`; `decision_ties` counts the others): easier pairs, so higher,
    and falling as draws are added. It is not DataDecide's statistic.
    """
    x, y = unit_matrices(points, target)
    upper = np.triu(np.ones((len(y), len(y)), dtype=bool), k=1)[..., None]
    counted = upper & ~np.isnan(y)[:, None] & ~np.isnan(y)[None, :]
    decided = decided_pairs(points, target) & counted
    result = {
        "decision_pairs": float(counted.sum()),
        "decision_ties": float((counted & ~decided).sum()),
    }
    if not counted.any():
        return result | dict.fromkeys(DECISION_COLUMNS, np.nan)
    agree = agreements(x, y)
    accuracy = float(agree[counted].mean())
    low = high = np.nan
    if interval and len(y) >= 3:
        units = (~np.isnan(y)).sum(axis=0)  # per benchmark
        null_share = pooled_null_variance(agree, counted, units)
        variance = u_statistic_variance(agree, counted)
        low, high = concordance_interval(accuracy, variance, null_share, len(y))
    p = np.nan  # a train set lacking a benchmark breaks exchangeability
    if permutations and not np.isnan(x).any():
        orders = orders_of(len(x), permutations, seed, exact_up_to=EXACT_DECISIONS)
        null = np.concatenate(
            [
                (agreements(x[chunk], y) * counted).sum(axis=(1, 2, 3)) / counted.sum()
                for chunk in np.array_split(orders, max(len(orders) // 4096, 1))
            ]
        )
        p = float(np.mean(null >= accuracy - 1e-12))  # the identity order is among them
    return result | {
        "decision_accuracy": accuracy,
        "decision_ci_low": low,
        "decision_ci_high": high,
        "p_decision": p,
        "decision_accuracy_decided": float(agree[decided].mean()) if decided.any() else np.nan,
    }


def correlate(
    points: pd.DataFrame,
    target: str = "ce",
    resamples: int = 2000,
    permutations: int = 10000,
    min_train_sets: int = 5,
    seed: int = 0,
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
    base = scores[scores["train"] == "base"]
    return base if len(base) else None


def headline_row(table: pd.DataFrame) -> pd.Series:
    """The row a one-number summary quotes: the within-benchmark `pooled` row when there are
    several benchmarks."""
    pooled = table[table["eval"] == POOLED]
    return (pooled if len(pooled) else table).iloc[0]
