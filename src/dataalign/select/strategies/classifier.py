"""Classifier (DCLM's recipe): the target's examples against a seeded sample of the pool, a
logistic regression on hashed n-grams, every pool example scored by its log-odds of being a
target example (`dataalign.select.classifier`). Two passes over the pool: the sample (and every
example's counts) in `pool_statistic`, then the scores; memory one batch and the sample.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import sparse

from dataalign.align.ngram import NgramHasher
from dataalign.errors import DatasetError
from dataalign.select.classifier import OPTIONS, fit, log_odds, merged, pool_sample
from dataalign.select.strategies import Strategy


def score(pool, index, target: Sequence[str], settings) -> np.ndarray:
    """Each example's log-odds of being a target example rather than a pool one."""
    sample = settings["statistic"]
    if not len(sample):
        raise DatasetError("classifier: the pool sample is empty. Fix: raise its `sample`.")
    positives = NgramHasher(settings["n"], settings["buckets"]).counts(list(target))
    labels = np.concatenate([np.ones(positives.shape[0]), np.zeros(len(sample))])
    return log_odds(fit(sparse.vstack([positives, sample.counts]), labels), settings)


STRATEGY = Strategy(
    "classifier", score=score, options=OPTIONS, statistic=pool_sample, combine=merged
)
