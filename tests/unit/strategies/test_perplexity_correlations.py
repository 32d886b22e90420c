"""Perplexity correlations: the estimate is the library's, and it finds the planted rows."""

from __future__ import annotations

import warnings

import numpy as np
from planted_pool import (
    NAMES,
    pick,
    planted_tokens,
    recovered,
    write_panel_scores,
)

from dataalign.select import score_pool
from dataalign.select.strategies.perplexity_correlations import panel_bits_per_byte


def test_perplexity_correlations_match_the_library_and_find_the_planted_rows(
    planted, index, tmp_path
):
    from perplexity_correlations.estimation import spearmanr
    from perplexity_correlations.projection import linear

    pool, target, _ = planted
    paths = write_panel_scores(tmp_path, index, len(target), np.random.default_rng(0))
    requests = {name: f"r-{name}" for name in ["prose", "planted", "leaks", "target"]}
    settings = {"scores": paths, "requests": requests, "target": "target", "estimator": "spearmanr"}
    scores = score_pool("perplexity_correlations", pool, index, target, settings)

    bits, on_target = panel_bits_per_byte(NAMES, index, settings)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # raw bits per byte lie outside the "error" range [0, 1]
        assert np.allclose(scores, spearmanr(bits, on_target))
    budget = planted_tokens(index)
    positions = pick(index, scores, "perplexity_correlations", budget, 0)
    eligible = np.flatnonzero(~index["excluded"].to_numpy())
    tau = index["n_tokens"].to_numpy()[eligible] / budget
    # The estimates tie often (8 members' ranks); the choice breaks ties by pool order, so
    # linear is given the same order (its own sort leaves ties to quicksort). Its weights are
    # float32: an example that fills the budget exactly gets its cap within rounding.
    weights = linear(scores[eligible] - 1e-9 * np.arange(len(eligible)), tau)
    assert set(positions) == set(eligible[weights >= tau * (1 - 1e-4)])
    assert recovered(index, positions) >= 0.75
    assert index["n_tokens"].iloc[positions].sum() <= budget
