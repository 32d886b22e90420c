"""N-gram: how much likelier an example's n-grams are under the target than under the pool.

The n-gram metric's features per example (DSIR's hashed unigrams to n-grams), scored as a
ranking: the mean over the example's n-grams of log p_target(bucket) - log p_pool(bucket),
both add-one smoothed. DSIR sums the same log ratios (its importance weight) and resamples;
this averages them, so an example is not preferred for being long, and takes the top of the
ranking (or samples with a temperature), like the other ranking strategies.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import sparse
from tqdm.auto import tqdm

from dataalign.align.ngram import example_ngrams
from dataalign.select.strategies import Strategy


def bucket_counts(texts: Sequence[str], n: int, buckets: int) -> sparse.csr_matrix:
    """The examples x buckets count matrix of `texts`."""
    features = [example_ngrams(text, n, buckets) for text in texts]
    indptr = np.concatenate([[0], np.cumsum([len(b) for b, _ in features])])
    indices = np.concatenate([b for b, _ in features] + [np.empty(0, np.int32)])
    counts = np.concatenate([c for _, c in features] + [np.empty(0, np.int32)])
    return sparse.csr_matrix((counts.astype(np.float32), indices, indptr), (len(texts), buckets))


def log_ratio(target: np.ndarray, pool: np.ndarray) -> np.ndarray:
    """Per bucket, log p_target - log p_pool, each distribution add-one smoothed."""
    buckets = len(target)
    return np.log((target + 1) / (target.sum() + buckets)) - np.log(
        (pool + 1) / (pool.sum() + buckets)
    )


def score(pool, index, target: Sequence[str], settings) -> np.ndarray:
    """The mean log ratio over each example's n-grams; -inf for an example with none."""
    n, buckets = settings["n"], settings["buckets"]
    parts = [bucket_counts(texts, n, buckets) for texts in tqdm(pool.texts(), desc="n-grams")]
    matrix = sparse.vstack(parts, format="csr") if parts else sparse.csr_matrix((0, buckets))
    pool_counts = np.asarray(matrix.sum(axis=0)).ravel()
    target_counts = np.asarray(bucket_counts(target, n, buckets).sum(axis=0)).ravel()
    weights = log_ratio(target_counts, pool_counts)
    totals = np.asarray(matrix.sum(axis=1)).ravel()
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(totals > 0, (matrix @ weights) / totals, -np.inf)


STRATEGY = Strategy(
    "ngram",
    score=score,
    settings=lambda config, experiment, entry: {"n": entry["n"], "buckets": entry["buckets"]},
)
