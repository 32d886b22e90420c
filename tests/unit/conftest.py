"""Fixtures of the library's tests: the planted selection pool, scanned (`planted_pool`), and
small batches to shard it."""

from __future__ import annotations

import pytest
from planted_pool import planted_pool

from dataalign.select import held_out_keys, scan_pool


@pytest.fixture(scope="module")
def planted():
    """The planted pool, its target and its benchmark (`planted_pool`), once per module."""
    return planted_pool()


@pytest.fixture(scope="module")
def index(planted, tokenizer):
    pool, target, benchmark = planted
    return scan_pool(pool, tokenizer, held_out_keys("target", target, {"bench": benchmark}))


@pytest.fixture
def small_batches(monkeypatch):
    """Batches of 32 source rows, so the 350-row planted pool has 13 to shard."""
    from dataalign.data import subsets

    monkeypatch.setattr(subsets, "ROWS_PER_BATCH", 32)
