"""Does alignment pick the better train set? DataDecide's decision accuracy, with an interval
over train sets and a permutation p, exact up to 8 train sets (`decision_accuracy`)."""

from __future__ import annotations

import math

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
    with np.errstate(invalid="ignore"):  # a train set in no counted pair: 0/0, dropped below
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
