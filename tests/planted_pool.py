"""A synthetic selection pool with a planted aligned fraction, shared by the selection tests
(tests/unit/test_select.py and each strategy's in tests/unit/strategies/): the pool, how to
score and choose from it whole, and how much of the planted fraction a choice recovers."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pandas as pd
from helpers import PROSE, WORDS, sentence

from dataalign.data.subsets import Part
from dataalign.select import Pool, ScoredShard, choose, scan_pool, score_pool
from dataalign.select.strategies import strategy

DSIR = {"n": 2, "buckets": 4096, "min_example_length": 2}


def texts(seed: int, vocabulary: list[str], count: int) -> list[str]:
    rng = random.Random(seed)
    return [sentence(rng, vocabulary, 6, 12) for _ in range(count)]


NAMES = ["prose", "planted", "leaks"]


def dataset(index: pd.DataFrame) -> np.ndarray:
    """Each scanned example's pool dataset."""
    return np.asarray(NAMES)[index["part"]]


def planted_tokens(index: pd.DataFrame) -> int:
    return int(index.loc[dataset(index) == "planted", "n_tokens"].sum())


def recovered(index: pd.DataFrame, positions: np.ndarray) -> float:
    """Share of the planted rows the choice holds."""
    return float((dataset(index)[positions] == "planted").sum() / 40)


def planted_precision(index: pd.DataFrame, scores: np.ndarray) -> float:
    """Share of planted rows among the best-scored eligible examples, as many as were planted;
    chance is `planted_share`."""
    eligible = ~index["excluded"].to_numpy()
    top = np.argsort(-np.where(eligible, scores, -np.inf), kind="stable")[:40]
    return float((dataset(index)[top] == "planted").mean())


def planted_share(index: pd.DataFrame) -> float:
    """The planted rows' share of the eligible pool: a ranking's precision by chance."""
    return float((dataset(index)[~index["excluded"].to_numpy()] == "planted").mean())


def with_statistic(method: str, pool: Pool, settings: dict, folder: Path) -> dict:
    """`settings` with the strategy's statistic over the whole pool and the features its pass
    saved (in `folder`), where it has one."""
    chosen = strategy(method)
    if chosen.statistic is None:
        return settings
    features = str(folder / f"{method}-features.bin")
    statistic = chosen.combine([chosen.statistic(pool, settings, features)])
    return {**settings, "statistic": statistic, "features": features}


def sharded_scores(method, pool: Pool, target, settings, count, tokenizer, folder) -> np.ndarray:
    """Every example's score with the pool in `count` shards, as the workflow's jobs make them:
    each shard's statistic pass, the statistics combined, each shard scored."""
    chosen, shards = strategy(method), [pool.shard(k, count) for k in range(count)]
    features = [str(folder / f"{method}-{count}-{k}.bin") for k in range(count)]
    passes = zip(shards, features, strict=True)
    statistic = chosen.combine([chosen.statistic(shard, settings, f) for shard, f in passes])
    scores = []
    for shard, path in zip(shards, features, strict=True):
        mine = {**settings, "statistic": statistic, "features": path}
        scores.append(score_pool(method, shard, scan_pool(shard, tokenizer, set()), target, mine))
    return np.concatenate(scores)


def scored(index: pd.DataFrame, scores: np.ndarray) -> list[ScoredShard]:
    """A pool scanned and scored whole, as the one shard a choice reads."""
    columns = (index[c].to_numpy() for c in ("part", "n_tokens", "excluded"))
    return [ScoredShard(*columns, scores)]


def pick(index, scores, method, budget, seed, temperature=None) -> np.ndarray:
    """The positions one seed chooses from a pool scanned and scored whole."""
    return choose(scored(index, scores), method, budget, seed, temperature).positions


def write_panel_scores(folder: Path, index: pd.DataFrame, target: int, rng) -> dict[str, str]:
    """Synthetic panel scores: a member's bits per byte on planted rows and on the target
    follow its skill; on other rows, its general quality (independent of skill)."""
    paths = {}
    names = dataset(index)
    planted = names == "planted"
    for member in range(8):
        skill, general = rng.normal(1.0, 0.2), rng.normal(1.0, 0.2)
        level = np.where(planted, skill, general) + rng.normal(0, 0.02, len(index))
        frame = pd.DataFrame(
            {
                "dataset": [*names, *["target"] * target],
                "request": [*(f"r-{name}" for name in names), *["r-target"] * target],
                "row": [*index["row"], *range(target)],
                "n_answer_bytes": 100,
            }
        )
        bits = np.concatenate([level, skill + rng.normal(0, 0.02, target)])
        frame["loglik"] = -bits * np.log(2) * 100
        paths[f"m{member}"] = str(folder / f"m{member}.parquet")
        frame.to_parquet(paths[f"m{member}"])
    return paths


def planted_pool() -> tuple[Pool, list[str], list[str]]:
    """A pool of prose with 40 planted examples like the target, plus copies of 5 target and 5
    benchmark examples that must never be chosen."""
    target, benchmark = texts(1, WORDS, 60), texts(2, WORDS, 30)
    parts = {
        "prose": texts(3, PROSE, 300),
        "planted": texts(4, WORDS, 40),
        "leaks": target[:5] + [b.upper() for b in benchmark[:5]],  # folded case still matches
    }
    pool = Pool(
        tuple(
            Part(name, pd.DataFrame({"row": range(len(rows)), "text": rows}), ["text"])
            for name, rows in parts.items()
        )
    )
    return pool, target, benchmark
