"""What every metric reports: a coefficient, the spread of what it averages, and its uncertainty.

Every alignment coefficient is a mean over pairs (batch pairs for Task2Vec, example pairs for
GZIP and SBERT), and every metric reports the same columns with one meaning:

- `std`: the spread (population std) of the pair values: how much pairs differ;
- `se`, `ci_low`, `ci_high`: the bootstrap standard error and percentile 95% CI of the mean when
  both datasets' examples are resampled, each dataset on its own, so the error bar is that of
  the data, not of the pairs drawn from it. Pairs that share an example are not independent, so
  the pairs themselves are never resampled as if they were. Task2Vec embeds batches of
  sequences: a dataset of N sequences holds only N // batch_size disjoint groups of them, so
  each resample draws those groups, every batch embedded from a group with it (a cluster
  bootstrap; see `task2vec.batch_rows`). So few groups need a small-sample correction, and
  below `task2vec.MIN_GROUPS` per side there is no usable error bar: NaN, with a `note`
  (`task2vec.group_pair_mean`);
- `train_se`: the standard error when only the first dataset (the train set) is resampled and
  the second (the benchmark) held fixed: the noise of a candidate's alignment with *this*
  benchmark, which is what comparing candidates on one benchmark needs
  (`dataalign.analysis.alignments.rank_candidates`);
  the benchmark's own noise is shared by every candidate and is not counted twice;
  `train_df` its degrees of freedom (the train side's units, or jackknife groups, minus 1);
- `n`: the examples (sequences) of the two datasets that the coefficient reads;
- `note`: why a number is missing (empty when none is);
- `n_total`, `sampling_se`: the examples the two subsets hold, and the part of `se` that comes
  from reading a seeded sample of a large subset instead of all of it (GZIP, SBERT and n-gram
  embed at most `max_examples` per subset): `se` x sqrt(1 - read / held), the finite-population
  correction with the two datasets' shares pooled; 0 when every example is read. When only a
  large train set is sampled against a small benchmark (the usual case) pooling overstates it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any, TypeVar

import numpy as np
import pandas as pd

Data = TypeVar("Data")
Embedding = TypeVar("Embedding")
RESAMPLES, LEVEL = 1000, 0.95
PAIR_WEIGHTS = 4_000_000  # resample x pair weights held at once (32 MB), whatever max_pairs is


@dataclass(frozen=True)
class Alignment:
    """An alignment coefficient `value` with the std of its pair values and its bootstrap SE/CI."""

    value: float
    std: float
    se: float
    ci_low: float
    ci_high: float
    n: int
    n_total: int | None = None  # examples the two subsets hold, where the metric samples them
    read_share: float = 1.0  # of those, the share its embeddings hold
    note: str = ""  # why se/CI are missing, where they are
    train_se: float = float("nan")  # the SE with the second dataset (the benchmark) held fixed
    train_df: float = float("nan")  # its degrees of freedom

    def as_row(self) -> dict[str, Any]:
        row = {"alignment": self.value, **asdict(self)}
        del row["value"], row["read_share"], row["note"], row["train_se"], row["train_df"]
        row["n_total"] = self.n if self.n_total is None else self.n_total
        row["sampling_se"] = self.se * float(np.sqrt(max(1.0 - self.read_share, 0.0)))
        row["train_se"], row["train_df"] = self.train_se, self.train_df
        row["note"] = self.note
        return row


def resampling_weights(
    n: int, resamples: int, rng: np.random.Generator, clusters: np.ndarray | None = None
) -> np.ndarray:
    """How often each of n items is drawn in each resample (resamples x n multinomial counts).

    With `clusters` (a cluster id per item) the clusters are drawn, each item as often as its
    cluster.
    """
    if clusters is None:
        return rng.multinomial(n, np.full(n, 1.0 / n), size=resamples).astype(np.float64)
    codes = pd.factorize(np.asarray(clusters))[0]
    return resampling_weights(codes.max() + 1, resamples, rng)[:, codes]


def summarise(
    value: float, std: float, draws: np.ndarray, n: int, level: float = LEVEL
) -> Alignment:
    """An Alignment from the point estimate, the pair spread and bootstrap draws of the estimate."""
    low, high = np.quantile(draws, [(1 - level) / 2, (1 + level) / 2])
    return Alignment(float(value), float(std), float(draws.std(ddof=1)), float(low), float(high), n)


def pair_mean(
    values: np.ndarray,
    i: np.ndarray,
    j: np.ndarray,
    n_a: int,
    n_b: int | None = None,
    resamples: int = RESAMPLES,
    seed: int = 0,
    clusters: tuple[np.ndarray | None, np.ndarray | None] = (None, None),
    n: int | None = None,
    train_side: int | None = None,
) -> Alignment:
    """Mean of `values[k]`, the value of pair (a_i[k], b_j[k]), with a two-sample bootstrap.

    Each resample draws the n_a items of dataset a and the n_b of dataset b with replacement
    (or their `clusters`, each item with its cluster); a pair weighs as often as both its items
    were drawn. `n_b=None` means both sides are the same dataset (within-dataset pairs, as for
    diversity), resampled once. `n` is the examples read (default n_a + n_b). With
    `train_side` (0: a, 1: b), `train_se` is the SE from the same resamples of that side alone,
    the other side's items each weighing once, corrected for its few units (`small_sample`: a
    candidate drawn as 8 long documents needs it).
    """
    values = np.asarray(values, dtype=np.float64).ravel()
    rng = np.random.default_rng(seed)
    w_a = resampling_weights(n_a, resamples, rng, clusters[0])
    w_b = w_a if n_b is None else resampling_weights(n_b, resamples, rng, clusters[1])
    draws = resampled_means(values, (w_a, i), (w_b, j))
    examples = n if n is not None else n_a + (n_b or 0)
    result = summarise(values.mean(), values.std(), draws, examples)
    if train_side is None:
        return result
    one_sided = resampled_means(values, ((w_a, i), (w_b, j))[train_side])
    side = clusters[train_side]
    units = (n_a, n_b)[train_side] if side is None else len(np.unique(side))
    train_se = float(one_sided.std(ddof=1)) * small_sample(units)
    return replace(result, train_se=train_se, train_df=float(units - 1))


def small_sample(units: int) -> float:
    """sqrt(n / (n - 1)): a bootstrap over n units reports (n - 1) / n of a mean's variance."""
    return float(np.sqrt(units / (units - 1))) if units > 1 else float("nan")


def resampled_means(values: np.ndarray, *sides: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Each resample's weighted mean of the pair values; a pair weighs the product of its items'
    resampling weights on the `sides` given as (weights, the pairs' items), the other side's
    items once each.

    The pairs' values and counts are summed per cell of the sides' items first, so a resample
    costs a product with that table (items x items, or one side's items) instead of a gather
    over every pair; past PAIR_WEIGHTS cells, a bounded block of resamples x pairs is held at
    once instead.
    """
    cells = np.prod([side.shape[1] for side, _ in sides])
    if cells <= PAIR_WEIGHTS:
        sums, counts = (cell_sums([items for _, items in sides], w, sides) for w in (values, None))
        if len(sides) == 1:
            totals, weighted = sides[0][0] @ counts, sides[0][0] @ sums
        else:
            (w_a, _), (w_b, _) = sides
            totals = np.einsum("rj,rj->r", w_a @ counts, w_b)
            weighted = np.einsum("rj,rj->r", w_a @ sums, w_b)
        usable = totals > 0  # a resample can miss every sampled pair when few pairs are sampled
        return weighted[usable] / totals[usable]
    draws = []
    step = max(1, PAIR_WEIGHTS // max(values.size, 1))
    (first, items), *others = sides
    for start in range(0, len(first), step):
        weights = first[start : start + step, items]
        for side, other_items in others:
            weights = weights * side[start : start + step, other_items]
        totals = weights.sum(axis=1)
        usable = totals > 0
        draws.append(weights[usable] @ values / totals[usable])
    return np.concatenate(draws)


def cell_sums(
    items: list[np.ndarray],
    values: np.ndarray | None,
    sides: tuple[tuple[np.ndarray, np.ndarray], ...],
) -> np.ndarray:
    """The sum of `values` (None: 1 per pair) over the pairs in each cell of the sides' items."""
    shape = tuple(side.shape[1] for side, _ in sides)
    flat = np.ravel_multi_index(tuple(items), shape)
    return np.bincount(flat, values, minlength=int(np.prod(shape))).reshape(shape)


def all_pairs(n_a: int, n_b: int) -> tuple[np.ndarray, np.ndarray]:
    """Index arrays (i, j) of every pair of an n_a x n_b matrix, row by row."""
    i, j = np.meshgrid(np.arange(n_a), np.arange(n_b), indexing="ij")
    return i.ravel(), j.ravel()


def swap_for_symmetry(a_key: bytes, b_key: bytes) -> bool:
    """Whether to swap a pair so random choices (pair samples, bootstraps) do not depend on order.

    Metrics compare digests of their inputs and work in that canonical order, which makes
    alignment(a, b) == alignment(b, a) exactly.
    """
    return hashlib.sha256(a_key).digest() > hashlib.sha256(b_key).digest()


def alignment_matrix(
    train: Mapping[str, Data],
    evaluation: Mapping[str, Data],
    embed: Callable[[Data], Embedding],
    align: Callable[[Embedding, Embedding], Alignment],
) -> pd.DataFrame:
    """Every train x eval alignment, embedding each dataset exactly once.

    The long table has one row per pair: train, eval, alignment, std, ci_low, ci_high, n.
    """
    embedded: dict[str, Embedding] = {}
    for name, data in {**train, **evaluation}.items():
        if name not in embedded:
            embedded[name] = embed(data)
    return pd.DataFrame(
        [
            {"train": t, "eval": e, **align(embedded[t], embedded[e]).as_row()}
            for t in train
            for e in evaluation
        ]
    )
