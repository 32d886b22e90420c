"""Does alignment pick the better train set? DataDecide's decision accuracy, with an interval
over train sets and a permutation p, exact up to 8 train sets (`decision_accuracy`)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from dataalign.analysis.inference import LEVEL, orders_of, unit_matrices

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
    counts = cells["count"].unstack("eval").loc[means.index, means.columns].to_numpy(float)
    draws = np.where(counts > 0, counts, np.nan)  # a missing target: no pair with it counts
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


def pair_kernel(agree: np.ndarray, counted: np.ndarray) -> np.ndarray:
    """Each pair of train sets' agreement averaged over the benchmarks (columns) it is counted
    on: a symmetric units x units matrix, NaN where a pair is counted nowhere; train sets in no
    counted pair are dropped. Train sets are the independent units, so this is the kernel of a
    U-statistic over them."""
    both = counted | counted.transpose(1, 0, 2)
    mine = np.where(counted, agree, 0.0)
    with np.errstate(invalid="ignore"):
        kernel = (mine + mine.transpose(1, 0, 2)).sum(axis=2) / both.sum(axis=2)
    keep = both.any(axis=(1, 2))
    return kernel[np.ix_(keep, keep)]


def kernel_moments(kernel: np.ndarray) -> tuple[float, float]:
    """Unbiased estimates of a U-statistic's two variance components from its pair kernel h
    (NaN: a pair not counted): zeta1 = Cov(h(i, j), h(i, k)), what two pairs sharing a train set
    have in common, and zeta2 = Var h(i, j). Each is a mean of products over pairs of pairs
    (sharing one train set; the same pair) less the mean over disjoint pairs of pairs, whose
    product estimates the squared mean without bias."""
    n = len(kernel)
    present = ~np.isnan(kernel) & ~np.eye(n, dtype=bool)
    h = np.where(present, kernel, 0.0)
    rows, squares, counts = h.sum(axis=1), (h**2).sum(axis=1), present.sum(axis=1)
    shared, shared_count = (rows**2 - squares).sum(), (counts**2 - counts).sum()
    total, total_squares, pairs = h.sum() / 2, (h**2).sum() / 2, present.sum() / 2
    disjoint_count = pairs**2 - pairs - shared_count
    if not disjoint_count or not shared_count:  # too few pairs to tell the components apart
        return np.nan, np.nan
    disjoint = (total**2 - total_squares - shared) / disjoint_count
    return float(shared / shared_count - disjoint), float(total_squares / pairs - disjoint)


PRIOR_TRAIN_SETS = 6  # the weight, in train sets, of the Gaussian-copula zeta1 (calibrated)


def gaussian_zeta1_share(c: np.ndarray) -> np.ndarray:
    """zeta1 / c (1 - c) of the concordance kernel when alignment and target are bivariate
    normal (Kendall's variance of tau, 1/9 - (4 / pi^2) asin(rho / 2)^2 over four, at the rho
    whose concordance 1/2 + asin(rho) / pi is c): 1/9 at c = 1/2, as for any independent
    continuous pair (a U-shaped relation reaches twice that); 0 where c (1 - c) is."""
    c = np.asarray(c, dtype=float)
    spread = c * (1 - c)
    rho = np.sin(np.pi * (c - 0.5))
    zeta1 = (1 / 9 - 4 / np.pi**2 * np.arcsin(rho / 2) ** 2) / 4
    return np.divide(zeta1, spread, out=np.zeros_like(c), where=spread > 0)


def concordance_interval(
    accuracy: float, kernel: np.ndarray, columns: int, level: float = LEVEL
) -> tuple[float, float]:
    """The concordances c a normal score test does not reject: |accuracy - c| <= z sqrt(V(c)),
    with V the U-statistic's variance over n train sets, 4 (n - 2) / n (n - 1) zeta1 +
    2 / n (n - 1) zeta2 (`kernel_moments`), evaluated at the c tested (as Wilson's interval for
    a proportion).

    Each component is a share of the 0/1 kernel's c (1 - c), applied at c: zeta2's estimated at
    the accuracy and kept within [1 / `columns`, 1] (a kernel averaged over benchmarks or seeds
    varies less); zeta1's, which five to eight train sets estimate poorly (an estimate near 0
    gave intervals that missed a null one time in seven), the estimate (within [0, 1/2]) shrunk
    toward the Gaussian-copula share at c (`gaussian_zeta1_share`) with the
    weight of `PRIOR_TRAIN_SETS` train sets, so the estimate rules as train sets grow. So the
    interval never has zero width, even when every pair agrees. Hoeffding's bound
    2 c (1 - c) / n caps V: no population of [0, 1] kernels varies more.
    """
    n = len(kernel)
    zeta1, zeta2 = kernel_moments(kernel)
    if np.isnan(zeta1):
        return np.nan, np.nan
    grid = np.linspace(0.0, 1.0, 20001)
    spread_at_accuracy = accuracy * (1 - accuracy)
    if spread_at_accuracy:
        estimated = np.clip(zeta1 / spread_at_accuracy, 0, 0.5)
        second = np.clip(zeta2 / spread_at_accuracy, 1 / columns, 1)
    else:  # every pair agrees (or none): the Gaussian share alone, the 0/1 kernel's variance
        estimated, second = gaussian_zeta1_share(grid), 1.0
    prior = PRIOR_TRAIN_SETS / (PRIOR_TRAIN_SETS + n)
    first = (1 - prior) * estimated + prior * gaussian_zeta1_share(grid)
    pairs = n * (n - 1)
    factor = np.minimum(4 * (n - 2) / pairs * first + 2 / pairs * second, 2 / n)
    critical = stats.norm.ppf((1 + level) / 2)
    inside = np.abs(accuracy - grid) <= critical * np.sqrt(factor * grid * (1 - grid))
    return float(grid[inside].min()), float(grid[inside].max())


def decision_accuracy(
    points: pd.DataFrame, target: str, permutations: int, seed: int, interval: bool = True
) -> dict[str, float]:
    """How often alignment picks the better of two train sets: DataDecide's decision accuracy.

    Over every pair of train sets on every benchmark, the target being each train set's mean
    over its draws (seeds): the share of pairs where the more aligned one has the lower target,
    a tie in alignment or in target counted 1/2, so an unrelated alignment scores 1/2 — a
    rescaled Kendall tau, (1 + tau) / 2, a U-statistic over train sets. The 95% interval
    (`interval`, at least 4 train sets) inverts a score test with the U-statistic's variance
    over train sets (`concordance_interval`). The one-sided permutation p of an accuracy
    this high with alignment shuffled across train sets enumerates all n! orders for up to 8
    train sets (exact), else `permutations` random ones (0: no p).

    `decision_accuracy_decided` is the share over pairs whose targets differ beyond the draws'
    noise only (`decided_pairs`; `decision_ties` counts the others): easier pairs, so higher,
    and falling as draws are added. It is not DataDecide's statistic.
    """
    x, y = unit_matrices(points, target)
    upper = np.triu(np.ones((len(y), len(y)), dtype=bool), k=1)[..., None]
    known = ~np.isnan(y) & ~np.isnan(x)  # a train set without a score is left out, not wrong
    counted = upper & known[:, None] & known[None, :]
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
    kernel = pair_kernel(agree, counted)
    if interval and len(kernel) >= 4:  # zeta1's estimate needs two disjoint pairs
        low, high = concordance_interval(accuracy, kernel, y.shape[1])
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
