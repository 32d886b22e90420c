"""N-gram: how much likelier an example's n-grams are under the target than under the pool.

The n-gram metric's features per example (DSIR's hashed unigrams to n-grams), scored as a
ranking: the mean over the example's n-grams of log p_target(bucket) - log p_pool(bucket),
both add-one smoothed. DSIR sums the same log ratios (its importance weight) and resamples;
this averages them, so an example is not preferred for being long, and takes the top of the
ranking (or samples with a temperature), like the other ranking strategies.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from scipy import sparse
from tqdm.auto import tqdm

from dataalign.align.ngram import NgramHasher
from dataalign.select.strategies import Strategy


def log_ratio(target: np.ndarray, pool: np.ndarray) -> np.ndarray:
    """Per bucket, log p_target - log p_pool, each distribution add-one smoothed."""
    buckets = len(target)
    return np.log((target + 1) / (target.sum() + buckets)) - np.log(
        (pool + 1) / (pool.sum() + buckets)
    )


def score(pool, index, target: Sequence[str], settings) -> np.ndarray:
    """The mean log ratio over each example's n-grams; -inf for an example with none.

    The pool is featurised once, a batch at a time; each batch's counts go to a temporary file
    while the pool's distribution is summed, then come back one batch at a time for the scores,
    so memory holds one batch whatever the pool's size.
    """
    hasher = NgramHasher(settings["n"], settings["buckets"])
    pool_counts = np.zeros(settings["buckets"])
    with tempfile.TemporaryDirectory(prefix="ngram-") as spill:
        batches = []
        for texts in tqdm(pool.texts(), desc="n-grams of the pool"):
            matrix = hasher.counts(texts)
            pool_counts += np.asarray(matrix.sum(axis=0)).ravel()
            batches.append(Path(spill) / f"{len(batches)}.npz")
            sparse.save_npz(batches[-1], matrix, compressed=False)
        target_counts = np.asarray(hasher.counts(list(target)).sum(axis=0)).ravel()
        weights = log_ratio(target_counts, pool_counts)
        scores = [np.zeros(0)]
        for batch in batches:
            matrix = sparse.load_npz(batch)
            totals = np.asarray(matrix.sum(axis=1)).ravel()
            with np.errstate(divide="ignore", invalid="ignore"):
                scores.append(np.where(totals > 0, (matrix @ weights) / totals, -np.inf))
    return np.concatenate(scores)


STRATEGY = Strategy(
    "ngram",
    score=score,
    settings=lambda config, experiment, entry: {"n": entry["n"], "buckets": entry["buckets"]},
)
