"""Selection strategies as plug-ins: one module per strategy in this package, found by name.

Selection runs in two steps, like alignment's embed once / combine pairs: `score_pool` gives
every pool example one number (the costly, seed-free step, one job per strategy); `choose` turns
the numbers into one seed's choice cheaply: the examples in priority order until the budget.

A module here defines `STRATEGY`, a `Strategy` naming the method, whether scoring runs a model
(a GPU job), the job's settings sliced from the config, the score, and how a seed turns scores
into a priority. The config checks, the rules' wildcards and the jobs' settings read this
registry, so adding a strategy is one module (plus its tests, and its options in the schema's
`strategy` entry if it has any). Modules import their heavy dependencies inside their functions:
the registry is read when the workflow is parsed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import pandas as pd

from dataalign.errors import DatasetError
from dataalign.plugins import discover, registered

Settings = Mapping[str, Any]
Scorer = Callable[[Any, pd.DataFrame, Sequence[str], Settings], np.ndarray]
Priority = Callable[[np.ndarray, np.ndarray, int, float | None], np.ndarray]


def ranked_priority(
    scores: np.ndarray, eligible: np.ndarray, seed: int, temperature: float | None
) -> np.ndarray:
    """A ranking's priority: its score, or with a `temperature` T a sample without replacement
    with probability proportional to exp(z / T), z the score standardised over the pool."""
    if not temperature:
        return scores
    z = (scores - scores[eligible].mean()) / (scores[eligible].std() or 1.0)
    return z / temperature + np.random.default_rng(seed).gumbel(size=len(scores))


@dataclass(frozen=True)
class Strategy:
    """One selection method.

    `settings(config, experiment, entry)` slices what decides its pool scores from the config
    (`entry` is the strategy's own config entry); `score(pool, index, target, settings)` gives
    every pool example a number, higher chosen first; `priority(scores, eligible, seed,
    temperature)` orders one seed's choice (a ranking's by default); `ranks` says whether a
    temperature applies. `take(scores, n_tokens, eligible, budget)`, where given, chooses the
    positions itself. `panel`: it reads panel members' scores of the pool (config keys `models`,
    `batch_size`). `check(key, entry, scored, config)` refuses a config it cannot run.
    """

    name: str
    score: Scorer
    settings: Callable[[Mapping[str, Any], str, Settings], dict[str, Any]]
    on_gpu: bool = False
    ranks: bool = True
    priority: Priority = ranked_priority
    take: Callable[[np.ndarray, np.ndarray, np.ndarray, int], np.ndarray] | None = None
    panel: bool = False
    check: Callable[[str, Settings, list[str], Mapping[str, Any]], None] | None = None


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
    """Every pool example's score under `method`, in pool order."""
    scores = np.asarray(strategy(method).score(pool, index, target, settings), dtype=np.float64)
    if len(scores) != len(index):
        raise DatasetError(f"{method}: {len(scores)} scores for {len(index)} pool examples.")
    return scores


def choose(
    index: pd.DataFrame,
    scores: np.ndarray,
    method: str,
    budget: int,
    seed: int,
    temperature: float | None = None,
) -> np.ndarray:
    """Positions (sorted) of the examples one seed chooses, at most `budget` tokens in all.

    Examples are taken in the strategy's priority order until the next would overflow the
    budget (so a choice falls short by less than one example); a strategy may take them itself.
    """
    n_tokens = index["n_tokens"].to_numpy()
    eligible = ~index["excluded"].to_numpy() & (n_tokens <= budget) & np.isfinite(scores)
    if n_tokens[eligible].sum() < budget:
        raise DatasetError(
            f"the pool holds {n_tokens[eligible].sum()} eligible tokens, fewer than the budget "
            f"{budget}. Fix: lower the budget or add datasets (or max_rows) to the pool."
        )
    chosen = strategy(method)
    if chosen.take is not None:
        return chosen.take(scores, n_tokens, eligible, budget)
    priority = chosen.priority(scores, eligible, seed, temperature)
    order = np.flatnonzero(eligible)
    order = order[np.argsort(-priority[order], kind="stable")]
    taken = np.searchsorted(np.cumsum(n_tokens[order]), budget, side="right")
    return np.sort(order[:taken])
