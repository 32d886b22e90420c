"""N-gram alignment: one minus the Jensen-Shannon divergence of two datasets' n-gram mixes.

The cheapest baseline a reviewer asks for, and DSIR's own featurisation: each example becomes
the counts of its lower-cased word-punctuation unigrams to n-grams hashed into buckets
(`data_selection`'s `get_ngram_counts`, so the features are DSIR's, not a re-implementation).
A dataset is the distribution of its pooled counts; two datasets are compared by the
Jensen-Shannon divergence (JSD) in bits.

The plug-in JSD of a few thousand tokens over thousands of buckets is dominated by sampling
noise: two samples of one distribution, 35 examples each, score 1 - JSD = 0.78, and the value
rises with size (0.92 at 350 vs 350). So the coefficient is computed at equal n-gram counts
(the larger dataset's examples are subsampled, seeded, to the smaller's count) and is
1 - the *excess* JSD: the observed JSD minus its mean over random splits of the two datasets'
pooled examples into the same sizes, which is what two samples of one distribution show by
chance. Identical distributions score 1 within their CI; unrelated ones approach 0. Unlike the
pair-averaged metrics it compares whole distributions: `std` (a spread of pair values) is
empty and `n` counts the examples compared; `se` and the CI (centred on the estimate) come
from the two-sample bootstrap over each dataset's examples.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import sparse

from dataalign.align.stats import (
    RESAMPLES,
    Alignment,
    resampling_weights,
    summarise,
    swap_for_symmetry,
)

CHUNK = 64  # bootstrap resamples formed at once (each a dense row per bucket)


def example_ngrams(text: str, n: int = 2, buckets: int = 10_000) -> tuple[np.ndarray, np.ndarray]:
    """One example's non-zero hashed n-gram buckets and their counts (DSIR's featuriser)."""
    from data_selection.hashed_ngram_dsir import get_ngram_counts

    counts = get_ngram_counts(text, n=n, num_buckets=buckets)
    (nonzero,) = np.nonzero(counts)
    return nonzero.astype(np.int32), counts[nonzero].astype(np.int32)


def ngram_counts(texts: Sequence[str], n: int = 2, buckets: int = 10_000) -> pd.DataFrame:
    """Per example, its non-zero hashed n-gram buckets and their counts (sparse, for Parquet)."""
    from tqdm.auto import tqdm

    rows = [
        example_ngrams(text, n, buckets) for text in tqdm(texts, desc="n-grams", unit="example")
    ]
    return pd.DataFrame(rows, columns=["buckets", "counts"])


def count_matrix(embedding: pd.DataFrame, buckets: int) -> sparse.csr_matrix:
    """The examples x buckets count matrix of an `ngram_counts` table."""
    lengths = embedding["counts"].map(len).to_numpy()
    indptr = np.concatenate([[0], np.cumsum(lengths)])
    indices = np.concatenate([*embedding["buckets"], np.empty(0, np.int32)])
    data = np.concatenate([*embedding["counts"], np.empty(0, np.int32)]).astype(np.float64)
    return sparse.csr_matrix((data, indices, indptr), shape=(len(embedding), buckets))


def js_coefficient(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """1 - the Jensen-Shannon divergence (bits) of count rows p and q, each normalised first."""
    p = p / p.sum(axis=-1, keepdims=True)
    q = q / q.sum(axis=-1, keepdims=True)
    m = (p + q) / 2

    def kl_to_m(x: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = np.where(x > 0, x * np.log2(x / m), 0.0)
        return terms.sum(axis=-1)

    return 1 - (kl_to_m(p) + kl_to_m(q)) / 2


def equal_counts(
    a: sparse.csr_matrix, b: sparse.csr_matrix, rng: np.random.Generator
) -> tuple[sparse.csr_matrix, sparse.csr_matrix]:
    """The two count matrices at (about) equal n-gram counts: the larger side's examples taken
    in a seeded random order until the next would pass the smaller side's count."""

    def cut(large: sparse.csr_matrix, total: float) -> sparse.csr_matrix:
        order = rng.permutation(large.shape[0])
        running = np.cumsum(np.asarray(large.sum(axis=1)).ravel()[order])
        return large[np.sort(order[: max(1, int(np.searchsorted(running, total, "right")))])]

    total_a, total_b = a.sum(), b.sum()
    if total_a > total_b:
        return cut(a, total_b), b
    return (a, cut(b, total_a)) if total_b > total_a else (a, b)


def chance_divergence(
    a: sparse.csr_matrix, b: sparse.csr_matrix, splits: int, rng: np.random.Generator
) -> float:
    """Mean JSD of random splits of a's and b's pooled examples into sets of their sizes."""
    pooled = sparse.vstack([a, b]).tocsr()
    total = np.asarray(pooled.sum(axis=0))
    values = []
    for start in range(0, splits, CHUNK):
        size = min(CHUNK, splits - start)
        picks = np.argsort(rng.random((size, pooled.shape[0])), axis=1)[:, : a.shape[0]]
        chosen = np.zeros((size, pooled.shape[0]))
        np.put_along_axis(chosen, picks, 1.0, axis=1)
        side = (sparse.csr_matrix(chosen) @ pooled).toarray()
        values.append(1 - js_coefficient(side, total - side))
    return float(np.concatenate(values).mean())


def ngram_alignment(
    a: sparse.csr_matrix, b: sparse.csr_matrix, resamples: int = RESAMPLES, seed: int = 0
) -> Alignment:
    """1 - the excess JSD of the pooled n-gram distributions of a and b (examples x buckets
    counts) at equal counts, with a bootstrap that resamples each dataset's examples on its
    own (`resamples` random splits estimate the chance JSD)."""
    if a.sum() == 0 or b.sum() == 0:
        raise ValueError("a dataset has no n-grams to compare (every example is empty)")
    if swap_for_symmetry(_key(a), _key(b)):
        a, b = b, a
    rng = np.random.default_rng(seed)
    a, b = equal_counts(a, b, rng)
    observed = 1 - float(js_coefficient(np.asarray(a.sum(axis=0))[0], np.asarray(b.sum(axis=0))[0]))
    value = 1 - (observed - chance_divergence(a, b, resamples, rng))
    draws = []
    for start in range(0, resamples, CHUNK):
        size = min(CHUNK, resamples - start)
        pooled_a = sparse.csr_matrix(resampling_weights(a.shape[0], size, rng)) @ a
        pooled_b = sparse.csr_matrix(resampling_weights(b.shape[0], size, rng)) @ b
        draws.append(js_coefficient(pooled_a.toarray(), pooled_b.toarray()))
    centred = np.concatenate(draws)
    centred = value + centred.mean() - centred  # the JSD's spread, around the estimate
    return summarise(value, float("nan"), centred, a.shape[0] + b.shape[0])


def _key(matrix: sparse.csr_matrix) -> bytes:
    return matrix.indptr.tobytes() + matrix.indices.tobytes() + matrix.data.tobytes()
