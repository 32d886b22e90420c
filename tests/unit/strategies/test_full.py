"""Full: the whole eligible pool, whatever the budget."""

from __future__ import annotations

import numpy as np
from planted_pool import (
    pick,
    planted_tokens,
)


def test_the_full_pool_baseline_takes_every_eligible_example(index):
    """Whatever the budget, every pool example but the held-out ones (and any longer than the
    budget); the same rows every seed."""
    budget = planted_tokens(index)
    positions = pick(index, np.zeros(len(index)), "full", budget, seed=0)
    eligible = ~index["excluded"] & (index["n_tokens"] <= budget)
    assert np.array_equal(positions, np.flatnonzero(eligible.to_numpy()))
    assert index["excluded"].any() and index["n_tokens"].to_numpy()[positions].sum() > budget
    assert np.array_equal(positions, pick(index, np.zeros(len(index)), "full", budget, seed=1))
