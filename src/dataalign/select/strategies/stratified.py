"""Stratified: random within each pool source, the budget split evenly across the sources.

Random's baseline with the pool's make-up held fixed: a plain random choice takes each source in
proportion to its size, so a strategy that beats it may only be shifting the mix between
sources; this one asks what an even mix, with nothing else chosen, buys. A source is a pool part
(`scan_pool`'s `part`: each dataset of `pool:`, a mixture counting as each of its parts). Each
source's order is random's draw for the seed, and the choice gives every source the same tokens
to within one example; a source with fewer than its share gives all it has, and the rest of its
share is split evenly among the others (`dataalign.select.choice`).
"""

from __future__ import annotations

from dataalign.select.strategies import Strategy, random

STRATEGY = Strategy(
    "stratified",
    score=random.score,
    ranks=False,
    priority=random.priority,
    equal_shares=True,
)
