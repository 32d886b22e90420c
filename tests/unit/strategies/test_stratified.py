"""Stratified: every pool source gets the same tokens (to within one example), a small source
is taken whole, random within a source, and a sharded pool chooses the unsharded rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from planted_pool import pick, planted_tokens

from dataalign.select import ScoredShard, choose, held_out_keys, scan_pool

SOURCES = {"web": 400, "books": 250, "small": 30, "code": 300}  # examples per pool source
BUDGET = 6000


@pytest.fixture(scope="module")
def sources() -> pd.DataFrame:
    """A scanned pool of four sources, examples of 5 to 59 tokens, 20 of them held out; the
    source `small` holds fewer tokens than its share of the budget."""
    rng = np.random.default_rng(0)
    part = np.repeat(np.arange(len(SOURCES)), list(SOURCES.values()))
    excluded = np.zeros(len(part), bool)
    excluded[rng.choice(len(part), 20, replace=False)] = True
    n_tokens = rng.integers(5, 60, len(part))
    return pd.DataFrame({"part": part, "n_tokens": n_tokens, "excluded": excluded})


def per_source(index: pd.DataFrame, positions: np.ndarray) -> np.ndarray:
    """The chosen tokens of each source."""
    chosen = index.iloc[positions]
    return np.bincount(chosen["part"], weights=chosen["n_tokens"], minlength=sources_of(index))


def sources_of(index: pd.DataFrame) -> int:
    return int(index["part"].max()) + 1


def balanced(index: pd.DataFrame, positions: np.ndarray, budget: int) -> bool:
    """Every eligible token of a source with less than the others' shares, and the others'
    shares equal to within one example; the budget filled to within one example."""
    tokens = per_source(index, positions)
    eligible = index[~index["excluded"]]
    whole = np.bincount(eligible["part"], weights=eligible["n_tokens"], minlength=sources_of(index))
    taken_whole = tokens == whole
    shares = tokens[~taken_whole]
    largest = index["n_tokens"].max()
    return bool(
        (whole[taken_whole] <= shares.min(initial=budget)).all()
        and shares.max() - shares.min() <= largest
        and budget - largest < tokens.sum() <= budget
    )


def test_each_source_gets_an_equal_share_and_a_small_one_all_it_has(sources):
    positions = pick(sources, np.zeros(len(sources)), "stratified", BUDGET, seed=0)
    eligible = sources[~sources["excluded"]]
    small = eligible[eligible["part"] == list(SOURCES).index("small")]
    # of 6,000 tokens: web 1,684, books 1,718, small 907 (all it has), code 1,677
    assert per_source(sources, positions).tolist() == [1684, 1718, 907, 1677]
    assert set(small.index) <= set(positions) and not sources["excluded"].iloc[positions].any()
    assert balanced(sources, positions, BUDGET)


def test_plain_random_fails_the_balance_check(sources):
    """The check above tells the strategy from a broken one: random takes each source in
    proportion to its size (seed 0: web 3,034 tokens, small 131)."""
    scores = np.zeros(len(sources))
    for seed in range(3):
        assert balanced(sources, pick(sources, scores, "stratified", BUDGET, seed), BUDGET)
        assert not balanced(sources, pick(sources, scores, "random", BUDGET, seed), BUDGET)


def test_seeds_choose_different_rows_and_one_source_is_random(sources):
    scores = np.zeros(len(sources))
    choices = [pick(sources, scores, "stratified", BUDGET, seed) for seed in range(3)]
    assert len({tuple(positions) for positions in choices}) == 3
    web = sources[sources["part"] == 0]
    for seed in range(3):  # a single source: random's order, cut at the budget
        ours = pick(web, np.zeros(len(web)), "stratified", 3000, seed)
        assert np.array_equal(ours, pick(web, np.zeros(len(web)), "random", 3000, seed))


@pytest.mark.parametrize("shares", [1, 3])
def test_a_sharded_pool_chooses_the_unsharded_rows(planted, tokenizer, monkeypatch, shares):
    """The planted pool (prose, planted, held-out copies) in batches of 32 rows, so 13 batches,
    in 1, 4 and 20 shards, each scanned on its own, then one streamed choice. At `shares` times
    the planted tokens: prose and planted even, or planted taken whole (its rows cross shards)
    and prose the rest."""
    from dataalign.data import subsets

    monkeypatch.setattr(subsets, "ROWS_PER_BATCH", 32)
    pool, target, benchmark = planted
    held_out = held_out_keys("target", target, {"bench": benchmark})
    choices = {}
    for count in (1, 4, 20):
        indexes = [scan_pool(pool.shard(k, count), tokenizer, held_out) for k in range(count)]
        shards = [ScoredShard(*scan_columns(i), np.zeros(len(i))) for i in indexes]
        whole = pd.concat(indexes, ignore_index=True)
        budget = shares * planted_tokens(whole)
        choices[count] = [choose(shards, "stratified", budget, seed).positions for seed in (0, 1)]
    for seed in (0, 1):
        assert np.array_equal(choices[4][seed], choices[1][seed])
        assert np.array_equal(choices[20][seed], choices[1][seed])
        assert balanced(whole, choices[1][seed], budget)
        planted_part = per_source(whole, choices[1][seed])[1]
        assert (planted_part == planted_tokens(whole)) == (shares == 3)


def scan_columns(index: pd.DataFrame) -> list[np.ndarray]:
    return [index[c].to_numpy() for c in ("part", "n_tokens", "excluded")]
