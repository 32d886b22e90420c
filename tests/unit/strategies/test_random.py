"""Random: the baseline finds the planted rows no better than chance, differently per seed."""

from __future__ import annotations

import numpy as np
from planted_pool import (
    pick,
    planted_tokens,
    recovered,
)


def test_random_choice_does_not_find_them_and_differs_by_seed(index):
    scores = np.zeros(len(index))
    budget = planted_tokens(index)
    draws = [pick(index, scores, "random", budget, seed) for seed in range(3)]
    assert all(recovered(index, positions) < 0.3 for positions in draws)
    assert not np.array_equal(draws[0], draws[1])
    assert all(not index["excluded"].iloc[p].any() for p in draws)
