"""Full: the whole eligible pool, whatever the budget."""

from __future__ import annotations

import numpy as np
from planted_pool import pick


def test_the_full_pool_baseline_takes_every_eligible_example(index):
    """Every pool example but the held-out ones, however long: it has no budget, so any (or
    none) gives the same rows, and so does every seed."""
    positions = pick(index, np.zeros(len(index)), "full", None, seed=0)
    assert np.array_equal(positions, np.flatnonzero(~index["excluded"].to_numpy()))
    assert index["excluded"].any()
    shortest = int(index["n_tokens"].min())
    for budget, seed in ((shortest, 0), (None, 1)):
        assert np.array_equal(positions, pick(index, np.zeros(len(index)), "full", budget, seed))
