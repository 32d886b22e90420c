"""N-gram: how much likelier an example's n-grams are under the target than under the pool.

The n-gram metric's features per example (DSIR's hashed unigrams to n-grams), scored as a
ranking: the mean over the example's n-grams of log p_target(bucket) - log p_pool(bucket),
both add-one smoothed. DSIR sums the same log ratios (its importance weight) and resamples;
this averages them, so an example is not preferred for being long, and takes the top of the
ranking (or samples with a temperature), like the other ranking strategies.

The pool is featurised once, a shard per job (`pool_counts`): the shard's bucket counts are
summed into the pool's distribution, and each batch's per-example counts are saved for the
scoring pass, which reads them back a batch at a time. Memory holds one batch whatever the
pool's size; the saved counts take about 8 bytes per n-gram occurrence on disk, until scored.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from typing import BinaryIO

import numpy as np
from scipy import sparse
from tqdm.auto import tqdm

from dataalign.align.ngram import NgramHasher
from dataalign.io import atomic_path, reading
from dataalign.plugins import option
from dataalign.select.strategies import Strategy


def pool_counts(pool, settings, features: str | os.PathLike) -> np.ndarray:
    """The n-gram bucket counts of every example of a pool shard, summed; each batch's
    examples x buckets counts saved to `features` (CSR arrays, one batch after another)."""
    hasher = NgramHasher(settings["n"], settings["buckets"])
    counts = np.zeros(settings["buckets"], np.int64)
    with atomic_path(features) as tmp, open(tmp, "wb") as out:
        for texts in tqdm(pool.texts(), desc="n-gram counts", unit="batch"):
            matrix = hasher.counts(texts)
            counts += np.asarray(matrix.sum(axis=0), np.int64).ravel()
            write_counts(out, matrix)
    return counts


def write_counts(out: BinaryIO, matrix: sparse.csr_matrix) -> None:
    """One batch's examples x buckets counts appended to an open features file."""
    for array in (matrix.indptr, matrix.indices, matrix.data.astype(np.int32)):
        np.save(out, array, allow_pickle=False)


def saved_features(path: str | os.PathLike, buckets: int) -> Iterator[sparse.csr_matrix]:
    """The batches `pool_counts` saved, in order (a file cut short fails with one line)."""
    size = os.path.getsize(path)
    with open(path, "rb") as saved:
        while saved.tell() < size:
            with reading(path):
                indptr, indices, data = (np.load(saved, allow_pickle=False) for _ in range(3))
                yield sparse.csr_matrix((data, indices, indptr), (len(indptr) - 1, buckets))


def target_counts(target: Sequence[str], settings) -> np.ndarray:
    """The target's n-gram bucket counts, summed over its examples."""
    return NgramHasher(settings["n"], settings["buckets"]).totals(list(target))


def log_ratio(target: np.ndarray, pool: np.ndarray) -> np.ndarray:
    """Per bucket, log p_target - log p_pool, each distribution add-one smoothed."""
    buckets = len(target)
    return np.log((target + 1) / (target.sum() + buckets)) - np.log(
        (pool + 1) / (pool.sum() + buckets)
    )


def score(pool, index, target: Sequence[str], settings) -> np.ndarray:
    """The mean log ratio over each example's n-grams; -inf for an example with none."""
    weights = log_ratio(target_counts(target, settings), settings["statistic"])
    scores = [np.zeros(0)]
    for matrix in saved_features(settings["features"], settings["buckets"]):
        totals = np.asarray(matrix.sum(axis=1)).ravel()
        with np.errstate(divide="ignore", invalid="ignore"):
            scores.append(np.where(totals > 0, (matrix @ weights) / totals, -np.inf))
    return np.concatenate(scores)


OPTIONS = {  # DSIR's hashed features, shared with `dsir`
    "n": option(2, "unigrams up to n-grams (DSIR's hashed features)", type="integer", minimum=1),
    "buckets": option(10000, "hash buckets", type="integer", minimum=16),
}
STRATEGY = Strategy("ngram", score=score, options=OPTIONS, statistic=pool_counts)
