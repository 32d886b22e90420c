"""A cheap classifier of target-like text, shared by the `classifier` (DCLM's recipe) and `betr`
strategies: a logistic regression on hashed n-grams, fitted on a small labelled set, scores
every pool example by its log-odds of being target-like. Its cost grows with the pool only
through hashing each example's n-grams (the n-gram metric's `NgramHasher`) and one dot product.

The labelled set holds a seeded sample of the pool, drawn in the statistic pass a shard at a
time: an example joins when its key, a seeded hash of its text, falls below sample / the pool's
rows. Every shard knows the pool's rows (the Parquet footers), so the sample, and with it the
fit and every score, is the same however the pool is sharded, and each example is read once:
the same pass saves every example's counts for the scoring pass, as the `ngram` strategy's does.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import sparse
from tqdm.auto import tqdm

from dataalign.align.ngram import NgramHasher
from dataalign.io import atomic_path
from dataalign.plugins import option
from dataalign.select.pool import Pool
from dataalign.select.strategies import ngram
from dataalign.select.strategies.ngram import saved_features, write_counts

OPTIONS = {  # the classifier's features and its pool sample, shared by `classifier` and `betr`
    "n": ngram.OPTIONS["n"],
    "buckets": option(
        2**18, "hash buckets of the classifier's n-gram features", type="integer", minimum=16
    ),
    "sample": option(
        10000,
        "pool examples drawn for the fit, about: each joins with probability sample / the "
        "pool's rows (a seeded hash of its text decides, so any sharding draws the same ones)",
        type="integer",
        minimum=1,
    ),
    "seed": option(
        0,
        "seed of the pool sample (not the experiment's `seeds`: without a `temperature` every "
        "seed chooses the same rows)",
        type="integer",
        minimum=0,
    ),
}


@dataclass(frozen=True)
class Sample:
    """Pool examples drawn for a fit: their keys, hashed n-gram counts and sentence embeddings
    (`betr`'s; no columns for `classifier`)."""

    keys: np.ndarray
    counts: sparse.csr_matrix
    embeddings: np.ndarray

    def __len__(self) -> int:
        return len(self.keys)

    def packed(self) -> np.ndarray:
        """One flat float64 array, as a statistic file holds it: the sizes, the keys, each
        example's count of buckets, the buckets, their counts, the embeddings (all exact)."""
        counts = self.counts
        sizes = [len(self), counts.shape[1], self.embeddings.shape[1]]
        parts = (sizes, self.keys, np.diff(counts.indptr), counts.indices, counts.data)
        return np.concatenate([*parts, self.embeddings.ravel()]).astype(np.float64)

    @classmethod
    def unpacked(cls, array: np.ndarray) -> Sample:
        count, buckets, width = (int(size) for size in array[:3])
        keys, lengths, rest = np.split(array[3:], [count, 2 * count])
        occupied = int(lengths.sum())
        indices, data, embeddings = np.split(rest, [occupied, 2 * occupied])
        indptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        counts = sparse.csr_matrix((data, indices.astype(np.int64), indptr), (count, buckets))
        return cls(keys, counts, embeddings.reshape(count, width))


def sample_keys(texts: Sequence[str], seed: int) -> np.ndarray:
    """Each text's key, uniform in [0, 1): BLAKE2b of the text keyed by the seed, so an example
    draws the same key in any shard (and copies of a text draw one key)."""
    salt = seed.to_bytes(8, "little")
    hashes = (hashlib.blake2b(text.encode(), digest_size=8, key=salt).digest() for text in texts)
    return np.array([int.from_bytes(h, "little") >> 11 for h in hashes], np.float64) * 2.0**-53


def draw_sample(
    pool: Pool, settings: Mapping[str, Any], features: str | os.PathLike
) -> tuple[Sample, list[list[str]]]:
    """A shard's share of the pool sample (no embeddings) and its texts, a list per pool batch;
    every example's n-gram counts saved to `features` for the scoring pass."""
    hasher = NgramHasher(settings["n"], settings["buckets"])
    rate = settings["sample"] / max(sum(part.n_rows() for part in pool.parts), 1)
    keys, counts = [np.zeros(0)], [sparse.csr_matrix((0, settings["buckets"]))]
    texts: list[list[str]] = []
    with atomic_path(features) as tmp, open(tmp, "wb") as out:
        for batch in tqdm(pool.texts(), desc="pool sample", unit="batch"):
            matrix, drawn = hasher.counts(batch), sample_keys(batch, settings["seed"])
            write_counts(out, matrix)
            chosen = np.flatnonzero(drawn < rate)
            keys.append(drawn[chosen])
            counts.append(matrix[chosen])
            texts.append([batch[i] for i in chosen])
    keys = np.concatenate(keys)
    return Sample(keys, sparse.vstack(counts).tocsr(), np.zeros((len(keys), 0))), texts


def pool_sample(pool: Pool, settings: Mapping[str, Any], features: str | os.PathLike) -> np.ndarray:
    """The statistic pass of a classifier on n-grams alone: the shard's share, packed."""
    return draw_sample(pool, settings, features)[0].packed()


def merged(statistics: Sequence[np.ndarray]) -> Sample:
    """The pool's sample from every shard's share (a strategy's `combine`), in key order (ties:
    pool order), so the fit sees the same arrays in the same order for any sharding."""
    shares = [Sample.unpacked(statistic) for statistic in statistics]
    drawn = [share for share in shares if len(share)] or shares[:1]
    keys = np.concatenate([share.keys for share in drawn])
    order = np.argsort(keys, kind="stable")
    counts = sparse.vstack([share.counts for share in drawn]).tocsr()[order]
    return Sample(keys[order], counts, np.vstack([share.embeddings for share in drawn])[order])


def features(counts: sparse.spmatrix) -> sparse.csr_matrix:
    """log(1 + count), each example scaled to unit length: a long example earns no confidence
    for its length alone."""
    from sklearn.preprocessing import normalize

    return normalize(sparse.csr_matrix(counts).log1p())


def fit(counts: sparse.spmatrix, labels: np.ndarray):
    """A logistic regression of `labels` (1: target-like) on the examples' features, the two
    classes weighed equally (a few hundred target examples face thousands sampled)."""
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(class_weight="balanced", max_iter=1000).fit(features(counts), labels)


def log_odds(model, settings: Mapping[str, Any]) -> np.ndarray:
    """Every example of the shard, from the counts its statistic pass saved, scored by the
    model's log-odds that it is target-like: its probability's order, without the ties that
    probabilities rounded to 1 make."""
    scores = [np.zeros(0)]
    for matrix in saved_features(settings["features"], settings["buckets"]):
        scores.append(model.decision_function(features(matrix)))
    return np.concatenate(scores)
