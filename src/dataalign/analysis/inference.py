"""Is the slope of loss on alignment real? Calibrated cluster tests, leave-out, permutation.

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
  6.9% at 7 train sets (CR2-BM 3.5%);
- the permutation p shuffles alignment across train sets (exact over all n! orders): a test
  of independence, which also rejects when alignment changes the loss's spread, not its mean;
- the r² interval resamples train sets with all their points: descriptive, not a test (at a
  true r² of 0 its lower bound is above 0).
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd

LEVEL = 0.95
WEBB = np.array([-math.sqrt(1.5), -1.0, -math.sqrt(0.5), math.sqrt(0.5), 1.0, math.sqrt(1.5)])
WILD_DRAWS = 9999  # bootstrap samples; all 6^G weight patterns when fewer (G <= 5)


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
