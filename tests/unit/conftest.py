"""Fixtures of the library's tests: the planted selection pool, scanned (`planted_pool`)."""

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
