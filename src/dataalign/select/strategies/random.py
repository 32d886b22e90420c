"""Random: the baseline every strategy is compared with; a uniform draw per seed."""

from __future__ import annotations

import numpy as np

from dataalign.select.strategies import Draws, Strategy


def score(pool, index, target, settings) -> np.ndarray:
    """Random selection needs no score: the order is drawn from the seed."""
    return np.zeros(len(index))


def priority(scores: np.ndarray, draws: Draws) -> np.ndarray:
    return draws.generator.random(len(scores))


STRATEGY = Strategy(
    "random",
    score=score,
    ranks=False,
    priority=priority,
)
