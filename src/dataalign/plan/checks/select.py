"""Selection: the target, pool and strategies of a select experiment, and selection studies."""

from __future__ import annotations

from dataalign.errors import ConfigError
from dataalign.plan.checks.sources import local_sizes
from dataalign.plan.lookup import Config, experiments_of_kind, pool_parts
from dataalign.select.strategies import registry as strategy_registry


def check_studies(config: Config) -> None:
    """A selection study reads select experiments, and its name is not an experiment's (both
    name a folder under results/tables)."""
    selections = experiments_of_kind(config, "select")
    for study, experiments in config["selection_studies"].items():
        key = f"config key selection_studies.{study}"
        if study in config["experiments"]:
            raise ConfigError(f"{key}: an experiment has this name too; rename the study.")
        others = [e for e in experiments if e not in selections]
        if others:
            raise ConfigError(
                f"{key}: {others} are not select experiments (those are: {selections})."
            )


def check_select(name: str, spec: Config, config: Config) -> None:
    key, datasets = f"experiments.{name}", config["datasets"]
    target = spec["target"]
    if target not in datasets or "mixture" in datasets[target]:
        raise ConfigError(
            f"config key {key}.target: {target!r} is not a dataset with a source of its own; "
            f"declare the target sample under datasets: (known: {sorted(datasets)})."
        )
    if target in spec["eval"]:
        raise ConfigError(
            f"config key {key}.target: {target!r} is also a benchmark (eval:); the target "
            "sample must be held apart from it. Fix: another split or rows of the same data."
        )
    parts = list(pool_parts(config, name))
    if len(parts) != len(set(parts)):
        raise ConfigError(f"config key {key}.pool: a dataset is in the pool twice: {parts}.")
    known = [next(local_sizes(part, config), None) for part in parts]
    if all(known) and spec["budget"] > sum(size for _, size, _ in known):
        raise ConfigError(
            f"config key {key}.budget: {spec['budget']} tokens to choose, but the pool's files "
            f"hold {sum(size for _, size, _ in known):,} bytes (at most that many tokens). Fix: "
            "a budget below the pool's size, or a larger pool."
        )
    for strategy, entry in spec["strategies"].items():
        where, method = f"{key}.strategies.{strategy}", entry["method"] or strategy
        if method not in strategy_registry():
            raise ConfigError(
                f"config key {where}: no method {method!r}; name one with method: "
                f"({', '.join(sorted(strategy_registry()))})."
            )
        plugin = strategy_registry()[method]
        if entry["temperature"] is not None and not plugin.ranks:
            ranking = sorted(n for n, s in strategy_registry().items() if s.ranks)
            raise ConfigError(
                f"config key {where}.temperature: {method} does not rank by a score; a "
                f"temperature applies to {', '.join(ranking)}. Fix: remove it."
            )
        if plugin.check is not None:
            plugin.check(where, entry, [*parts, target], config)


def check_strategy_names(config: Config) -> None:
    """A strategy name runs with a model (a GPU job) or without, in every experiment alike."""
    on_gpu: dict[str, set[bool]] = {}
    for name in experiments_of_kind(config, "select"):
        for strategy, entry in config["experiments"][name]["strategies"].items():
            method = strategy_registry().get(entry["method"] or strategy)
            on_gpu.setdefault(strategy, set()).add(method is not None and method.on_gpu)
    mixed = sorted(strategy for strategy, kinds in on_gpu.items() if len(kinds) > 1)
    if mixed:
        raise ConfigError(
            f"config key experiments.*.strategies: {mixed} name a model strategy (a GPU job) in "
            "one experiment and another method in another; rename one of them."
        )
