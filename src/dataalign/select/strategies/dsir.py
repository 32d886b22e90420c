"""DSIR (Xie et al., 2023): importance resampling on hashed n-gram features.

DSIR's estimator as the `data-selection` package computes it, made shardable: the pool's
n-gram distribution is a sum over shards (one job each, `ngram.pool_counts`, which also saves the
examples' counts, so the pool is featurised once), then each shard's examples get their log
importance weight, log(p_target + 1e-8) - log(p_pool + 1e-8) dotted
with their counts, and DSIR's length filter. The features are the package's own (`NgramHasher`
is tested equal to its `get_ngram_counts`), and the weights and the choice are tested equal to
its `HashedNgramDSIR` on a whole pool (`package_weights`, also what the benchmark runs beside).
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from dataalign.data.subsets import example_batches
from dataalign.plugins import option
from dataalign.select.pool import Pool
from dataalign.select.strategies import Draws, Strategy, ngram
from dataalign.select.strategies.ngram import pool_counts, saved_features, target_counts

log = logging.getLogger(__name__)
SMOOTHING = 1e-8  # added to both distributions before the log, as the package does


def score(pool: Pool, index, target: Sequence[str], settings) -> np.ndarray:
    """DSIR's log importance weights; -inf for the examples its length filter drops."""
    raw, aimed = settings["statistic"], target_counts(target, settings)
    log_diff = np.log(aimed / aimed.sum() + SMOOTHING) - np.log(raw / raw.sum() + SMOOTHING)
    n, weights = settings["n"], [np.zeros(0)]
    for matrix in saved_features(settings["features"], settings["buckets"]):
        lengths = (np.asarray(matrix.sum(axis=1)).ravel() + n * (n - 1) / 2) // n
        kept = lengths >= settings["min_example_length"]
        weights.append(np.where(kept, matrix @ log_diff, -np.inf))
    weights = np.concatenate(weights)
    log.info(
        "dsir: %d of %d examples pass its length filter", np.isfinite(weights).sum(), len(weights)
    )
    return weights


def package_weights(pool: Pool, target: Sequence[str], settings, workers: int = 2) -> np.ndarray:
    """The same weights by `data-selection`'s HashedNgramDSIR itself, on a whole pool: the
    reference `score` is tested and benchmarked against. One raw "dataset" per pool part keeps
    DSIR's order the pool's (no virtual shards)."""
    from data_selection import HashedNgramDSIR
    from nltk.tokenize import WordPunctTokenizer

    loader = PoolLoader(pool, tuple(target))
    names = pool.names
    with tempfile.TemporaryDirectory(prefix="dsir-") as cache:
        dsir = HashedNgramDSIR(
            raw_datasets=names,
            target_datasets=["target"],
            cache_dir=cache,
            raw_load_dataset_fn=loader,
            raw_parse_example_fn=None,
            target_load_dataset_fn=loader,
            target_parse_example_fn=None,
            num_proc=max(1, min(workers, len(names))),
            ngrams=settings["n"],
            num_buckets=settings["buckets"],
            min_example_length=settings["min_example_length"],
        )
        # DSIR's own tokenizer, a fresh copy: nltk compiles its pattern on first use, and a
        # compiled pattern (nltk's regex with a timeout) fails to unpickle in DSIR's workers.
        dsir.tokenizer = WordPunctTokenizer().tokenize
        dsir.fit_importance_estimator(num_tokens_to_fit="all")
        dsir.compute_importance_weights()
        shards = range(len(dsir._get_virtually_sharded_datasets(names)))
        weights = np.concatenate(
            [np.load(f"{cache}/log_importance_weights/{i}.npy") for i in shards]
        )
        lengths = np.concatenate([np.load(f"{cache}/perexample_metadata/{i}.npy") for i in shards])
        kept = dsir.perexample_metadata_filter(lengths)
    return np.where(kept, weights, -np.inf)


@dataclass(frozen=True)
class PoolLoader:
    """DSIR's `load_dataset_fn`: a pool part's texts by name, or the target's (picklable, so
    DSIR's worker processes can call it)."""

    pool: Pool
    target: tuple[str, ...]

    def __call__(self, name: str) -> Iterator[str]:
        if name == "target":
            yield from self.target
            return
        part = next(p for p in self.pool.parts if p.name == name)
        for examples in example_batches(part):
            yield from examples["text"]


def priority(scores: np.ndarray, draws: Draws) -> np.ndarray:
    """DSIR's Gumbel-perturbed log weights: its importance resampling without replacement, the
    noise drawn as the library draws it."""
    kept = np.isfinite(scores)
    perturbed = np.full(len(scores), -np.inf)
    perturbed[kept] = scores[kept] + draws.legacy.gumbel(size=int(kept.sum()))
    return perturbed


OPTIONS = {
    **ngram.OPTIONS,
    "min_example_length": option(
        100,
        "words an example needs to be chosen (DSIR's own filter; lower it for short examples "
        "such as statements)",
        type="integer",
        minimum=0,
    ),
}
STRATEGY = Strategy(
    "dsir",
    score=score,
    options=OPTIONS,
    ranks=False,
    priority=priority,
    statistic=pool_counts,
)
