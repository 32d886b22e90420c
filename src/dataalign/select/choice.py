"""One seed's choice from a scored pool, streamed shard by shard: memory holds one shard's
numbers and the examples chosen so far, never a per-example table of the whole pool.

The choice is the examples in the strategy's priority order (ties: pool order) until the next
would overflow the budget. Streaming keeps, after each shard, the greedy choice of what it has
seen plus the example that stopped it: the whole pool's choice restricted to any part of the
pool is a prefix of that part's order within the budget, so it survives every cut, and so does
the example that stops it; the last cut is then the whole pool's choice, however it is sharded.

A strategy with equal shares ranks by priority within each pool source (a part) instead, and
the choice takes the examples in order of their source's running total of tokens (ties: pool
order) until the next would overflow: every source gets the same share of the budget to within
one example, and a source that runs out leaves the rest of its share to the others. A running
total only grows as the pool streams in, so streaming keeps each source's examples while the
tokens ranked before them fit the budget (the last of them stops its source): no other example
can be chosen, and each kept total is the whole pool's.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from dataalign.errors import DatasetError
from dataalign.select.strategies import Draws, strategy


class ScoredShard(NamedTuple):
    """A pool shard's examples as a choice reads them: part index, token count, whether held
    out, score (numpy arrays, pool order)."""

    part: np.ndarray
    n_tokens: np.ndarray
    excluded: np.ndarray
    score: np.ndarray

    def eligible(self, budget: int | None) -> np.ndarray:
        """Not held out, scored, and not longer than the budget (None: no budget)."""
        eligible = ~self.excluded & np.isfinite(self.score)
        return eligible if budget is None else eligible & (self.n_tokens <= budget)


@dataclass(frozen=True)
class Choice:
    """The chosen examples: sorted pool positions, each one's part and token count, and how many
    examples each pool part holds (to turn positions into each dataset's rows)."""

    positions: np.ndarray
    part: np.ndarray
    n_tokens: np.ndarray
    part_sizes: np.ndarray


@dataclass(frozen=True)
class Candidates:
    """Examples still in the running: priority, pool position, token count, part."""

    priority: np.ndarray
    positions: np.ndarray
    n_tokens: np.ndarray
    part: np.ndarray

    @classmethod
    def empty(cls) -> Candidates:
        return cls(np.zeros(0), np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64))

    def add(self, other: Candidates) -> Candidates:
        return Candidates(*(np.concatenate(pair) for pair in zip(self, other, strict=True)))

    def __iter__(self):
        return iter((self.priority, self.positions, self.n_tokens, self.part))

    def greedy(self, budget: int, stopper: bool) -> Candidates:
        """The examples in priority order (ties: pool order) while they fit the budget, and with
        `stopper` the first that did not."""
        order = np.lexsort((self.positions, -self.priority))
        taken = int(np.searchsorted(np.cumsum(self.n_tokens[order]), budget, side="right"))
        order = order[: taken + 1 if stopper else taken]
        return Candidates(*(values[order] for values in self))

    def source_totals(self) -> np.ndarray:
        """Each example's running total of its source's tokens, the source's examples in
        priority order (ties: pool order): the tokens its source holds once it is taken."""
        order = np.lexsort((self.positions, -self.priority, self.part))
        tokens, part = self.n_tokens[order], self.part[order]
        running = np.cumsum(tokens)
        first = np.ones(len(order), bool)
        first[1:] = part[1:] != part[:-1]
        before = np.maximum.accumulate(np.where(first, running - tokens, 0))  # earlier sources'
        totals = np.empty_like(running)
        totals[order] = running - before
        return totals

    def in_shares(self, budget: int) -> Candidates:
        """The examples whose source's tokens ranked before them fit the budget: all that equal
        shares can choose, however many more examples stream in, and what stops each source."""
        kept = self.source_totals() - self.n_tokens <= budget
        return Candidates(*(values[kept] for values in self))

    def by_shares(self) -> Candidates:
        """The same examples ranked for equal shares: their source's running total, lowest
        first."""
        totals = self.source_totals().astype(np.float64)
        return Candidates(-totals, self.positions, self.n_tokens, self.part)


def moments(shards: Iterable[ScoredShard], budget: int | None) -> tuple[float, float]:
    """Mean and standard deviation of the eligible scores, each sum exactly rounded (math.fsum)
    so they are the same however the pool is sharded; a constant score has deviation 1."""
    eligible = [s.score[s.eligible(budget)] for s in shards]
    count = sum(len(scores) for scores in eligible)
    if count == 0:
        return 0.0, 1.0
    mean = math.fsum(x for scores in eligible for x in scores.tolist()) / count
    spread = math.fsum(x for scores in eligible for x in ((scores - mean) ** 2).tolist())
    return mean, math.sqrt(spread / count) or 1.0


def choose(
    shards: Iterable[ScoredShard],
    method: str,
    budget: int | None,
    seed: int,
    temperature: float | None = None,
) -> Choice:
    """One seed's choice of at most `budget` tokens from a pool's scored shards, in pool order
    (an iterable read twice when a temperature needs the scores' moments). A strategy that
    takes every eligible example has no budget: it ignores `budget`, which may be None."""
    chosen = strategy(method)
    budget = None if chosen.everything else budget
    draws = Draws(seed, temperature)
    if chosen.ranks and temperature:
        draws.mean, draws.std = moments(shards, budget)
    kept, offset, eligible_tokens = Candidates.empty(), 0, 0
    part_sizes = np.zeros(0, np.int64)
    for shard in shards:
        priority = chosen.priority(shard.score, draws)  # every shard, to keep the draws in step
        eligible = shard.eligible(budget)
        eligible_tokens += int(shard.n_tokens[eligible].sum())
        mine = Candidates(
            priority[eligible],
            offset + np.flatnonzero(eligible),
            shard.n_tokens[eligible].astype(np.int64),
            shard.part[eligible].astype(np.int64),
        )
        kept = kept.add(mine)
        if chosen.equal_shares:
            kept = kept.in_shares(budget)
        elif not chosen.everything:
            kept = kept.greedy(budget, stopper=True)
        sizes = np.bincount(shard.part.astype(np.int64))
        part_sizes = np.pad(part_sizes, (0, max(len(sizes) - len(part_sizes), 0)))
        part_sizes[: len(sizes)] += sizes
        offset += len(shard.score)
    if not chosen.everything:
        if eligible_tokens < budget:
            raise DatasetError(
                f"the pool holds {eligible_tokens} eligible tokens, fewer than the budget "
                f"{budget}. Fix: lower the budget or add datasets (or max_rows) to the pool."
            )
        kept = (kept.by_shares() if chosen.equal_shares else kept).greedy(budget, stopper=False)
    order = np.argsort(kept.positions)
    return Choice(kept.positions[order], kept.part[order], kept.n_tokens[order], part_sizes)
