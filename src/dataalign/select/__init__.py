"""Choose a pool's examples for a target task under a token budget.

The paper's advice, "select the most aligned data", as plug-in strategies that share one
interface (pool, target, budget, seed -> chosen examples): `pool` scans the pool (in shards) and
writes a choice back, `strategies` scores it (one module per strategy), `choice` streams the
shards' scores into one seed's choice, `summary` says whether the choice paid off.
"""

from dataalign.select.choice import Choice, ScoredShard, choose
from dataalign.select.pool import (
    Pool,
    chosen_draws,
    composition,
    held_out_keys,
    read_texts,
    scan_pool,
)
from dataalign.select.strategies import score_pool

__all__ = [
    "Choice",
    "Pool",
    "ScoredShard",
    "choose",
    "chosen_draws",
    "composition",
    "held_out_keys",
    "read_texts",
    "scan_pool",
    "score_pool",
]
