"""N-gram alignment: one minus the Jensen-Shannon divergence of two datasets' n-gram mixes.

The cheapest baseline a reviewer asks for, and DSIR's own featurisation: each example becomes
the counts of its lower-cased word-punctuation unigrams to n-grams hashed into buckets
(`data_selection`'s `get_ngram_counts`, so the features are DSIR's, not a re-implementation).
A dataset is the distribution of its pooled counts; two datasets are compared by the
Jensen-Shannon divergence in bits, which lies in [0, 1], so 1 - JSD is 1 for identical mixes
and 0 for mixes with no bucket in common. Unlike the pair-averaged metrics it compares whole
distributions: `std` (a spread of pair values) is empty and `n` counts the examples pooled;
`se` and the CI come from the same two-sample bootstrap over each dataset's examples.
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


def ngram_counts(texts: Sequence[str], n: int = 2, buckets: int = 10_000) -> pd.DataFrame:
    """Per example, its non-zero hashed n-gram buckets and their counts (sparse, for Parquet)."""
    from data_selection.hashed_ngram_dsir import get_ngram_counts
    from tqdm.auto import tqdm

    rows = []
    for text in tqdm(texts, desc="n-grams", unit="example"):
        counts = get_ngram_counts(text, n=n, num_buckets=buckets)
        (nonzero,) = np.nonzero(counts)
        rows.append((nonzero.astype(np.int32), counts[nonzero].astype(np.int32)))
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


def ngram_alignment(
    a: sparse.csr_matrix, b: sparse.csr_matrix, resamples: int = RESAMPLES, seed: int = 0
) -> Alignment:
    """1 - JSD of the pooled n-gram distributions of a and b (examples x buckets counts), with a
    bootstrap that resamples each dataset's examples on its own."""
    if a.sum() == 0 or b.sum() == 0:
        raise ValueError("a dataset has no n-grams to compare (every example is empty)")
    if swap_for_symmetry(_key(a), _key(b)):
        a, b = b, a
    value = float(js_coefficient(np.asarray(a.sum(axis=0))[0], np.asarray(b.sum(axis=0))[0]))
    rng = np.random.default_rng(seed)
    draws = []
    for start in range(0, resamples, CHUNK):
        size = min(CHUNK, resamples - start)
        pooled_a = sparse.csr_matrix(resampling_weights(a.shape[0], size, rng)) @ a
        pooled_b = sparse.csr_matrix(resampling_weights(b.shape[0], size, rng)) @ b
        draws.append(js_coefficient(pooled_a.toarray(), pooled_b.toarray()))
    return summarise(value, float("nan"), np.concatenate(draws), a.shape[0] + b.shape[0])


def _key(matrix: sparse.csr_matrix) -> bytes:
    return matrix.indptr.tobytes() + matrix.indices.tobytes() + matrix.data.tobytes()
