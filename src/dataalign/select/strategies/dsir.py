"""DSIR (Xie et al., 2023): importance resampling on hashed n-gram features, by the
`data-selection` package's own featuriser and estimator."""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from dataalign.data.subsets import example_batches
from dataalign.select.pool import Pool
from dataalign.select.strategies import Strategy

log = logging.getLogger(__name__)


def score(pool: Pool, index, target: Sequence[str], settings, workers: int = 2) -> np.ndarray:
    """DSIR's log importance weights from `data-selection`'s HashedNgramDSIR (its featuriser, its
    estimator); -inf for the examples its length filter drops.

    One raw "dataset" per pool part keeps DSIR's order the pool's (no virtual shards).
    """
    from data_selection import HashedNgramDSIR
    from nltk.tokenize import WordPunctTokenizer

    loader = PoolLoader(pool, tuple(target))
    names = [part.name for part in pool.parts]
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
    log.info("dsir: %d of %d examples pass its length filter", kept.sum(), len(kept))
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


def priority(scores: np.ndarray, eligible: np.ndarray, seed: int, temperature) -> np.ndarray:
    """DSIR's Gumbel-perturbed log weights: its importance resampling without replacement, the
    noise drawn as the library draws it."""
    kept = np.isfinite(scores)
    perturbed = np.full(len(scores), -np.inf)
    perturbed[kept] = scores[kept] + np.random.RandomState(seed).gumbel(size=int(kept.sum()))
    return perturbed


def settings(config, experiment: str, entry) -> dict[str, Any]:
    return {key: entry[key] for key in ("n", "buckets", "min_example_length")}


STRATEGY = Strategy("dsir", score=score, settings=settings, ranks=False, priority=priority)
