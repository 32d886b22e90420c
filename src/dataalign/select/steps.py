"""The jobs of a selection, as the workflow runs them: scan a pool shard (token counts and held
out examples, once for every strategy), sum a strategy's pool statistic over a shard where it
needs one, score a shard under one strategy, then write one seed's choice from every shard's
scores as an ordinary subset. Each returns what its job writes."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from dataalign.data.subsets import Part, write_draws
from dataalign.digest import content_digest
from dataalign.errors import DatasetError
from dataalign.io import read_parquet
from dataalign.jobs import measured
from dataalign.models import ModelSpec, load_tokenizer
from dataalign.select.choice import ScoredShard, choose
from dataalign.select.pool import (
    Pool,
    chosen_draws,
    composition,
    held_out_keys,
    read_texts,
    scan_pool,
)
from dataalign.select.strategies import score_pool, strategy

INDEX_COLUMNS = ["part", "n_tokens", "excluded"]  # what a choice reads of a shard's scan


def pool_of(specs: Mapping[str, Mapping[str, Any]], rows: Mapping[str, str]) -> Pool:
    """The datasets `specs` names (name -> subset part spec), read from their `rows` files."""
    return Pool(tuple(Part(name, rows[name], **spec) for name, spec in specs.items()))


def pool_shard(params: Mapping[str, Any], rows: Mapping[str, str]) -> Pool:
    """The job's shard of the pool (`shard` of `shards`)."""
    return pool_of(params["pool"], rows).shard(params["shard"], params["shards"])


def target_texts(params: Mapping[str, Any], rows: Mapping[str, str]) -> list[str]:
    ((_, parts),) = params["target"].items()
    return read_texts(pool_of(parts, rows).parts)


def scan_shard(
    params: Mapping[str, Any], rows: Mapping[str, str]
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """A pool shard's examples: part, row, token count, and whether each is a target or
    benchmark example (held out), timed with the job's peak memory."""
    ((target_name, _),) = params["target"].items()
    benchmarks = {
        name: read_texts(pool_of(specs, rows).parts) for name, specs in params["benchmarks"].items()
    }
    held_out = held_out_keys(target_name, target_texts(params, rows), benchmarks)
    tokenizer = load_tokenizer(ModelSpec.from_config(**params["tokenizer"]))
    with measured() as usage:
        index = scan_pool(pool_shard(params, rows), tokenizer, held_out)
    report = {
        "shard": params["shard"],
        "pool_examples": len(index),
        "pool_tokens": int(index["n_tokens"].sum()),
        "excluded": int(index["excluded"].sum()),
        **usage,
    }
    return index, report


def shard_statistic(
    params: Mapping[str, Any], rows: Mapping[str, str], features: str
) -> np.ndarray:
    """A strategy's pool statistic over the job's shard (e.g. its n-gram counts summed, or its
    share of a pool sample); what its scoring reuses (the examples' counts) saved to
    `features`."""
    shard = pool_shard(params, rows)
    return strategy(params["method"]).statistic(shard, params["settings"], features)


def score_shard(
    params: Mapping[str, Any],
    index: pd.DataFrame,
    rows: Mapping[str, str],
    statistics: Sequence[np.ndarray],
    features: str | None,
    panel: Mapping[str, str],
) -> tuple[np.ndarray, dict[str, Any]]:
    """The score of every example of the job's shard under its strategy, timed with the job's
    peak memory. `statistics`: every shard's statistic (in pool order) and `features` what this
    shard's statistic pass saved, for a strategy that has one; `panel`: each member's scores
    file, for a strategy that reads a panel."""
    settings, method = dict(params["settings"]), strategy(params["method"])
    if method.panel:
        settings["scores"] = {model: panel[model] for model in settings["models"]}
    if statistics:
        settings["statistic"], settings["features"] = method.combine(statistics), features
    target = target_texts(params, rows)
    with measured() as usage:
        scores = score_pool(params["method"], pool_shard(params, rows), index, target, settings)
    report = {
        "method": params["method"],
        "shard": params["shard"],
        "pool_examples": len(index),
        "target_examples": len(target),
        **usage,
    }
    return scores, report


@dataclass(frozen=True)
class ShardFiles:
    """A strategy's scored pool as the select job reads it: each shard's scan and scores, read
    one shard at a time, in pool order, as often as a choice iterates."""

    indexes: Sequence[str]
    scores: Sequence[str]

    def __iter__(self) -> Iterator[ScoredShard]:
        for index_path, scores_path in zip(self.indexes, self.scores, strict=True):
            index = read_parquet(index_path, INDEX_COLUMNS)
            score = read_parquet(scores_path, ["score"])["score"].to_numpy()
            if len(score) != len(index):
                raise DatasetError(
                    f"{scores_path} holds {len(score)} scores but {index_path} {len(index)} "
                    "examples: the two come from different runs. Fix: delete both and rerun."
                )
            yield ScoredShard(*(index[c].to_numpy() for c in INDEX_COLUMNS), score)


def choose_subset(
    params: Mapping[str, Any],
    shards: ShardFiles,
    rows: Mapping[str, str],
    budget: int | None,
    seed: int,
    subset: str,
    tokens: str,
) -> dict[str, Any]:
    """One seed's choice from the pool's scored shards, written as an ordinary subset (`subset`
    Parquet, `tokens` .npy); returns its size, make-up by pool dataset and cost. `budget`: None
    for a strategy that takes the whole pool."""
    with measured() as usage:
        chosen = choose(shards, params["method"], budget, seed, params["temperature"])
    pool = pool_of(params["pool"], rows)
    tokenizer = load_tokenizer(ModelSpec.from_config(**params["tokenizer"]))
    draws = chosen_draws(pool, chosen.part_sizes, chosen.positions, chosen.n_tokens)
    write_draws(draws, tokenizer, subset, tokens)
    return {
        "seed": seed,
        "budget": budget,
        "examples": len(chosen.positions),
        "tokens": int(chosen.n_tokens.sum()),
        "composition": composition(pool.names, chosen.part, chosen.n_tokens),
        "rows_digest": content_digest(chosen.positions.tolist()),
        **usage,
    }
