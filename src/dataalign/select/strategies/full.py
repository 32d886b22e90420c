"""Full: the whole pool, the baseline a selection has to beat to be worth its cost.

Every eligible pool example (target and benchmark examples are held out, as for every strategy,
and so is an example longer than the budget), whatever the budget: the table then answers
whether a small aligned choice beats training on all the data. It trains with the experiment's
options like every other choice, so the same epochs over more tokens take proportionally more
steps; the table's `tokens` column gives its size.
"""

from __future__ import annotations

import numpy as np

from dataalign.select.strategies import Strategy


def score(pool, index, target, settings) -> np.ndarray:
    """The whole pool needs no score."""
    return np.zeros(len(index))


STRATEGY = Strategy("full", score=score, ranks=False, everything=True)
