"""Full: the whole pool, the baseline a selection has to beat to be worth its cost.

Every eligible pool example (target and benchmark examples are held out, as for every
strategy), whatever the budget: the table then answers whether a small aligned choice beats
training on all the data. Having no budget, its choice is named by the pool rather than the
experiment (`pool-{digest}.full`), so experiments that differ only in their budget or other
strategies train and evaluate it once. It trains with the experiment's options like every other
choice, so the same epochs over more tokens take proportionally more steps; the table's `tokens`
column gives its size.
"""

from __future__ import annotations

import numpy as np

from dataalign.select.strategies import Strategy


def score(pool, index, target, settings) -> np.ndarray:
    """The whole pool needs no score."""
    return np.zeros(len(index))


STRATEGY = Strategy("full", score=score, ranks=False, everything=True)
