"""The two jobs of a selection, as the workflow runs them: score a pool under one strategy, then
write one seed's choice as an ordinary subset. Each returns the report its job writes beside."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from dataalign.data.subsets import Part, write_draws
from dataalign.jobs import measured
from dataalign.models import ModelSpec, load_tokenizer
from dataalign.plan.records import content_digest
from dataalign.select.pool import (
    Pool,
    chosen_draws,
    composition,
    held_out_keys,
    read_texts,
    scan_pool,
)
from dataalign.select.strategies import choose, score_pool, strategy


def pool_of(specs: Mapping[str, Mapping[str, Any]], rows: Mapping[str, str]) -> Pool:
    """The datasets `specs` names (name -> subset part spec), read from their `rows` files."""
    return Pool(tuple(Part(name, rows[name], **spec) for name, spec in specs.items()))


def score_strategy(
    params: Mapping[str, Any], rows: Mapping[str, str], panel: Mapping[str, str]
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Every pool example's score under the job's strategy, its token count and whether it is
    held out, timed with the job's peak memory. `panel`: each member's scores file, for a
    strategy that reads a panel."""
    ((target_name, target_parts),) = params["target"].items()
    target = read_texts(pool_of(target_parts, rows).parts)
    benchmarks = {
        name: read_texts(pool_of(specs, rows).parts) for name, specs in params["benchmarks"].items()
    }
    settings = dict(params["settings"])
    if strategy(params["method"]).panel:
        settings["scores"] = {model: panel[model] for model in settings["models"]}
    pool = pool_of(params["pool"], rows)
    tokenizer = load_tokenizer(ModelSpec.from_config(**params["tokenizer"]))
    with measured() as usage:
        index = scan_pool(pool, tokenizer, held_out_keys(target_name, target, benchmarks))
        index["score"] = score_pool(params["method"], pool, index, target, settings)
    report = {
        "method": params["method"],
        "pool_examples": len(index),
        "pool_tokens": int(index["n_tokens"].sum()),
        "excluded": int(index["excluded"].sum()),
        "target_examples": len(target),
        **usage,
    }
    return index, report


def choose_subset(
    params: Mapping[str, Any],
    index: pd.DataFrame,
    rows: Mapping[str, str],
    budget: int,
    seed: int,
    subset: str,
    tokens: str,
) -> dict[str, Any]:
    """One seed's choice from the pool scores, written as an ordinary subset (`subset` Parquet,
    `tokens` .npy); returns its size, make-up by pool dataset and cost."""
    with measured() as usage:
        positions = choose(
            index, index["score"].to_numpy(), params["method"], budget, seed, params["temperature"]
        )
    tokenizer = load_tokenizer(ModelSpec.from_config(**params["tokenizer"]))
    write_draws(
        chosen_draws(pool_of(params["pool"], rows), index, positions), tokenizer, subset, tokens
    )
    return {
        "seed": seed,
        "budget": budget,
        "examples": len(positions),
        "tokens": int(index["n_tokens"].to_numpy()[positions].sum()),
        "composition": composition(index, positions),
        "rows_digest": content_digest(positions.tolist()),
        **usage,
    }
