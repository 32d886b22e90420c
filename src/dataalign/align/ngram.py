"""N-gram alignment: one minus the Jensen-Shannon divergence of two datasets' n-gram mixes.

The cheapest baseline a reviewer asks for, and DSIR's own featurisation: each example becomes
the counts of its lower-cased word-punctuation unigrams to n-grams hashed into buckets, exactly
as `data_selection`'s `get_ngram_counts` counts them (its tokeniser's pattern, its SHA-256
buckets; tested equal), but computed for many texts at once (`NgramHasher`).
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

import hashlib
import re
from collections.abc import Callable, Sequence
from functools import partial
from itertools import chain, repeat

import numpy as np
import pandas as pd
import regex
from scipy import sparse
from tqdm.auto import tqdm

from dataalign.align.stats import (
    RESAMPLES,
    Alignment,
    resampling_weights,
    summarise,
    swap_for_symmetry,
)

CHUNK = 64  # bootstrap resamples formed at once (each a dense row per bucket)
BATCH = 4096  # texts featurised at once


# nltk's WordPunctTokenizer, which DSIR's get_ngram_counts splits lower-cased text with, compiled
# as nltk compiles it: with the `regex` engine, whose \w (unlike `re`'s) leaves out digits such as
# subscripts and superscripts (`h₀` is two tokens, as in DSIR).
WORD_PUNCT = regex.compile(r"\w+|[^\w\s]+", regex.UNICODE | regex.MULTILINE | regex.DOTALL)
# The same tokens for ASCII text by the faster `re`: its \w and the regex engine's agree on ASCII,
# and the whitespace is spelled out (re's \s also takes the separators \x1c-\x1f; nltk's not).
ASCII_WORD_PUNCT = re.compile(r"[A-Za-z0-9_]+|[^A-Za-z0-9_\t\n\x0b\x0c\r ]+")
MEMO_LIMIT = 8_000_000  # distinct n-grams remembered (ids and buckets) before starting afresh


class NgramHasher:
    """DSIR's hashed n-gram counts of many texts at once: the same numbers as its
    `get_ngram_counts`, without its Python work per token.

    One regular expression per text finds the tokens; pandas factorises a batch's tokens and
    n-grams in C. Every distinct n-gram gets a stable id the first time it is seen (an n-gram
    is its (n-1)-gram's id and its last token's id), and is hashed then (SHA-256 of the joined
    string, as DSIR) and never again: Python touches each n-gram distinct in a batch once, as
    one dictionary lookup, and builds and hashes only n-grams never seen before.
    """

    def __init__(self, n: int = 2, buckets: int = 10_000) -> None:
        self.n, self.buckets = n, buckets
        self.forget()

    def forget(self) -> None:
        self.ids: list[dict] = [{} for _ in range(self.n)]  # per order: key -> stable id
        self.bucket_of = [np.empty(1024, np.int64) for _ in range(self.n)]  # per order: by id

    def stable_ids(self, order: int, keys: Sequence, grams: Callable[[np.ndarray], list[str]]):
        """Stable ids and buckets of `keys` (distinct n-grams of one order); `grams(missing)`
        gives the strings of the keys at positions `missing`, which are hashed."""
        known = self.ids[order]
        ids = np.fromiter(map(known.get, keys, repeat(-1)), np.int64, len(keys))
        missing = np.flatnonzero(ids < 0)
        if len(missing):
            first = len(known)
            ids[missing] = np.arange(first, first + len(missing))
            known.update(zip((keys[m] for m in missing), ids[missing].tolist(), strict=True))
            table = self.bucket_of[order]
            if len(known) > len(table):
                table = self.bucket_of[order] = np.resize(table, 2 * len(known))
            table[ids[missing]] = [
                int(hashlib.sha256(g.encode("utf-8")).hexdigest(), 16) % self.buckets
                for g in grams(missing)
            ]
        return ids, self.bucket_of[order][ids]

    def counts(self, texts: Sequence[str]) -> sparse.csr_matrix:
        """The examples x buckets count matrix of `texts` (float64)."""
        rows, columns = self.occurrences(texts)
        matrix = sparse.coo_matrix(
            (np.ones(len(rows)), (rows, columns)), (len(texts), self.buckets)
        )
        return matrix.tocsr()  # duplicates summed

    def totals(self, texts: Sequence[str]) -> np.ndarray:
        """The bucket counts of `texts` summed (int64): `counts(texts).sum(axis=0)`, cheaper."""
        return np.bincount(self.occurrences(texts)[1], minlength=self.buckets)

    def occurrences(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Every n-gram occurrence of `texts` as (example, bucket)."""
        if sum(map(len, self.ids)) > MEMO_LIMIT:
            self.forget()
        words = [
            (ASCII_WORD_PUNCT if text.isascii() else WORD_PUNCT).findall(text.lower())
            for text in texts
        ]
        lengths = np.fromiter(map(len, words), np.int64, len(words))
        tokens = np.fromiter(chain.from_iterable(words), object, int(lengths.sum()))
        codes, distinct = pd.factorize(tokens)
        example = np.repeat(np.arange(len(texts)), lengths)
        room = np.repeat(lengths, lengths) - (
            np.arange(len(tokens)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        )  # tokens from each position to the end of its example
        token_ids, token_buckets = self.stable_ids(0, distinct, lambda m: distinct[m])
        rows, columns = [example], [token_buckets[codes]]
        gram = token_ids[codes]  # stable id of the n-gram starting at each position
        for order in range(1, self.n):
            starts = np.flatnonzero(room > order)
            keys = gram[starts] * (1 << 32) + token_ids[codes[starts + order]]
            inverse, distinct_keys = pd.factorize(keys)
            start_of = np.empty(len(distinct_keys), np.int64)
            start_of[inverse] = starts  # where one occurrence of each distinct n-gram starts

            ids, buckets = self.stable_ids(
                order, distinct_keys.tolist(), partial(joined, tokens, start_of, order + 1)
            )
            rows.append(example[starts])
            columns.append(buckets[inverse])
            gram = np.zeros(len(tokens), np.int64)
            gram[starts] = ids[inverse]
        return np.concatenate(rows), np.concatenate(columns)


def joined(tokens: np.ndarray, starts: np.ndarray, width: int, missing: np.ndarray) -> list[str]:
    """The n-grams (`width` tokens joined by spaces, as DSIR) starting at `starts[missing]`."""
    return [" ".join(tokens[p : p + width]) for p in starts[missing]]


def ngram_counts(texts: Sequence[str], n: int = 2, buckets: int = 10_000) -> pd.DataFrame:
    """Per example, its non-zero hashed n-gram buckets and their counts (sparse, for Parquet)."""
    hasher, rows = NgramHasher(n, buckets), []
    for start in tqdm(range(0, len(texts), BATCH), desc="n-grams", unit="batch"):
        matrix = hasher.counts(texts[start : start + BATCH])
        for k in range(matrix.shape[0]):
            row = slice(matrix.indptr[k], matrix.indptr[k + 1])
            rows.append((matrix.indices[row].astype(np.int32), matrix.data[row].astype(np.int32)))
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
