"""Selection strategies as plug-ins: one module per strategy in this package, found by name.

Selection runs in two steps, like alignment's embed once / combine pairs: `score_pool` gives
every pool example one number (the costly, seed-free step, one job per strategy and pool shard);
`dataalign.select.choice.choose` turns the numbers into one seed's choice cheaply: the examples
in priority order until the budget, streamed shard by shard.

A module here defines `STRATEGY`, a `Strategy` naming the method, whether scoring runs a model
(a GPU job), its options (JSON-schema properties with defaults: `dataalign.plan.schema` checks every
strategy entry of its method against them), the job's settings, the score, and how a seed turns
scores into a priority. The config schema and checks, the rules' wildcards and the jobs' settings
read this registry, so adding a strategy is one module (plus its tests). Modules import their
heavy dependencies inside their functions, and nothing of `dataalign.plan`: what a strategy's
settings need beyond its own entry comes in a `StrategyView`. The registry is read when the
workflow is parsed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import numpy as np
import pandas as pd

from dataalign.errors import DatasetError
from dataalign.plugins import discover, registered

Settings = Mapping[str, Any]
Scorer = Callable[[Any, pd.DataFrame, Sequence[str], Settings], np.ndarray]


@dataclass
class Draws:
    """One seed's random numbers for its choice, drawn shard by shard in pool order (so a
    sharded pool gets exactly the numbers the whole pool would), and the pool's score moments
    that a temperature standardises by."""

    seed: int
    temperature: float | None = None
    mean: float = 0.0
    std: float = 1.0

    def __post_init__(self) -> None:
        self.generator = np.random.default_rng(self.seed)
        self.legacy = np.random.RandomState(self.seed)  # the stream DSIR's own resampling draws


Priority = Callable[[np.ndarray, Draws], np.ndarray]


def ranked_priority(scores: np.ndarray, draws: Draws) -> np.ndarray:
    """A ranking's priority: its score, or with a temperature T a sample without replacement
    with probability proportional to exp(z / T), z the score standardised over the eligible
    pool (Gumbel-top-k)."""
    if not draws.temperature:
        return scores
    z = (scores - draws.mean) / draws.std
    return z / draws.temperature + draws.generator.gumbel(size=len(scores))


def summed(statistics: Sequence[np.ndarray]) -> np.ndarray:
    """The shards' statistics added up: a pool statistic that is a sum over its examples."""
    return np.sum(statistics, axis=0)


@dataclass(frozen=True)
class StrategyView:
    """What a strategy's settings may read beyond its own entry, resolved by the plan
    (`dataalign.plan.params.strategy_view`) for one select experiment."""

    target: str  # the dataset holding the target sample
    model: Callable[[str], dict[str, Any]]  # a model under `models:` as {name, entry}
    embed_settings: Callable[[str], dict[str, Any]]  # a metric's embed settings, models inlined
    pool_requests: Callable[[], list[dict[str, Any]]]  # what a panel scores of pool and target


@dataclass(frozen=True)
class Strategy:
    """One selection method.

    `options` are the JSON-schema properties (with their defaults) of its config entry beyond
    `method` and `temperature`; `settings(entry, view)` gives what decides its pool scores
    (`entry` is the strategy's own config entry, defaults filled; without it, its options'
    values); `score(pool, index, target, settings)` gives every example of a pool shard a
    number, higher chosen first; `priority(scores, draws)` orders one seed's choice, a shard at
    a time (a ranking's by default); `ranks` says whether a temperature applies.
    `statistic(pool, settings, features)`, where given, is a first pass over a shard in its own
    job: it returns what scoring needs of the shard over the whole pool (DSIR's pool n-gram
    counts; a classifier's share of the pool sample), a flat array, and saves to the path
    `features` what the scoring pass reuses (the examples' n-gram counts); `score` gets every
    shard's array, in pool order, merged by `combine` (by default their sum) as
    `settings["statistic"]` and its shard's path as `settings["features"]`. `everything`: it
    takes every eligible example and has no budget (its subsets are named by the pool, not the
    experiment). `equal_shares`: its priority ranks the examples within each pool source (a pool
    part), and the budget is split evenly across the sources (`dataalign.select.choice`).
    `panel`: it reads panel members' scores of the pool (config keys `models`, `batch_size`).
    `check(key, entry, scored, config)` refuses a config it cannot run.
    """

    name: str
    score: Scorer
    options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    settings: Callable[[Settings, StrategyView], dict[str, Any]] | None = None
    on_gpu: bool = False
    ranks: bool = True
    priority: Priority = ranked_priority
    statistic: Callable[[Any, Settings, str], np.ndarray] | None = None
    combine: Callable[[Sequence[np.ndarray]], Any] = summed
    everything: bool = False
    equal_shares: bool = False
    panel: bool = False
    check: Callable[[str, Settings, list[str], Mapping[str, Any]], None] | None = None

    def job_settings(self, entry: Settings, view: StrategyView) -> dict[str, Any]:
        """What decides its pool scores: `settings`' slice, or its options' values."""
        if self.settings is not None:
            return self.settings(entry, view)
        return {key: entry[key] for key in self.options}


@cache
def registry() -> dict[str, Strategy]:
    """Every strategy module of this package, by method name."""
    return discover(__name__, __path__, "STRATEGY")


def strategy(name: str) -> Strategy:
    """The registered strategy `name`; ConfigError naming the known ones otherwise."""
    return registered(registry(), name, "selection method")


def score_pool(
    method: str, pool: Any, index: pd.DataFrame, target: Sequence[str], settings: Settings
) -> np.ndarray:
    """Every example's score under `method`, in the order of `index` (a pool shard's scan)."""
    if len(index) == 0:  # a shard of a pool with fewer row batches than shards
        return np.zeros(0)
    scores = np.asarray(strategy(method).score(pool, index, target, settings), dtype=np.float64)
    if len(scores) != len(index):
        raise DatasetError(f"{method}: {len(scores)} scores for {len(index)} pool examples.")
    return scores
