"""Reads of a validated config: which datasets, subsets and train sets an experiment names.

Pure lookups with no job behind them; `params` slices the config into what each job needs and
`jobs` enumerates the distinct jobs.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from dataalign.digest import content_digest
from dataalign.plan import paths
from dataalign.plan.records import SubsetKey
from dataalign.select.strategies import strategy as registered_strategy

Config = Mapping[str, Any]
SOURCES = ("local", "installed", "hub")  # by precedence
TRAINING_KINDS = ("finetune", "pretrain", "select")  # experiments that train models


def used_datasets(config: Config) -> list[str]:
    """Every dataset some experiment reads, mixture parts included, in config order."""
    named = set()
    for experiment in config["experiments"].values():
        roles = ("train", "eval", "pool") if experiment["kind"] != "panel" else ("benchmarks",)
        named |= {d for role in roles for d in experiment.get(role, [])}
        named |= {experiment["candidate"]} if experiment["kind"] == "panel" else set()
        named |= {experiment["target"]} if experiment["kind"] == "select" else set()
    datasets = config["datasets"]
    named |= {part for d in list(named) if d in datasets for part in datasets[d].get("mixture", {})}
    return [d for d in datasets if d in named]


def download_spec(config: Config, dataset: str) -> dict[str, Any]:
    """What decides a dataset's downloaded rows: its effective source, fields and row cap.

    A local file wins over an installed corpus, which wins over the Hub, so an overlay config
    can take a dataset offline without deleting its hub: entry.
    """
    entry = config["datasets"][dataset]
    kind = next(k for k in SOURCES if k in entry)
    optional = {key: entry[key] for key in ("skip_rows", "max_chars", "shuffle") if entry.get(key)}
    return {kind: entry[kind], **pick(entry, "fields", "max_rows", "max_missing"), **optional}


def named_model(config: Config, name: str) -> dict[str, Any]:
    """A model's spec together with its name, as jobs receive it."""
    return {"name": name, "entry": config["models"][name]}


def experiments_of_kind(config: Config, kind: str) -> list[str]:
    """Names of the experiments of one kind: align, finetune, pretrain, select or panel."""
    return [name for name, spec in config["experiments"].items() if spec["kind"] == kind]


def training_experiments(config: Config) -> list[str]:
    """Names of the experiments that train models (every kind but align and panel)."""
    return [n for n, spec in config["experiments"].items() if spec["kind"] in TRAINING_KINDS]


def train_sets(config: Config, experiment: str) -> list[str]:
    """An experiment's train sets: its datasets, or a selection's chosen subset per strategy."""
    spec = config["experiments"][experiment]
    if spec["kind"] == "select":
        return [selection_name(config, experiment, strategy) for strategy in spec["strategies"]]
    return list(spec["train"])


def fine_tunes(config: Config, experiment: str) -> bool:
    """Whether an experiment trains pretrained weights (its base model is then evaluated too)."""
    spec = config["experiments"][experiment]
    fresh = "architecture" in config["models"][spec["model"]]
    return spec["kind"] == "finetune" or (spec["kind"] == "select" and not fresh)


def pick(mapping: Mapping[str, Any], *keys: str) -> dict[str, Any]:
    return {key: mapping[key] for key in keys}


def tokenizer_owner(config: Config, model: str) -> str:
    """Name of the model whose tokenizer `model` uses (itself unless it is a fresh architecture)."""
    return config["models"][model].get("tokenizer") or model


def budget_tokenizer(config: Config, experiment: str) -> str:
    """Name of the model whose tokenizer counts an experiment's budgets: an align experiment's
    `tokenizer`, else the tokenizer of the model it trains."""
    spec = config["experiments"][experiment]
    return tokenizer_owner(config, spec["tokenizer"] if spec["kind"] == "align" else spec["model"])


def train_budget(spec: Config, dataset: str) -> tuple[int, str]:
    """A train set's token budget in an experiment, and the key that sets it: its `budgets:`
    override, else the experiment's `budget`."""
    budgets = spec.get("budgets", {})
    if dataset in budgets:
        return budgets[dataset], f"budgets.{dataset}"
    return spec["budget"], "budget"


def proxies(config: Config, experiment: str) -> list[str]:
    """A training experiment's proxies (cheaper rankings of its train sets), in config order."""
    return list(config["experiments"][experiment].get("proxies", {}))


def proxy_view(config: Config, experiment: str, proxy: str) -> Config:
    """The config as the proxy's runs see it: the experiment with the proxy's model and training
    options in place, so its models and evaluations are planned by the same functions as the
    experiment's. A `checkpoint` proxy is the run stopped at that share of its steps; a `budget`
    proxy trains on that many tokens of each of the experiment's own draws (`max_tokens`), so
    a seed's proxy and target read the same data and another seed's target none of it."""
    spec = config["experiments"][experiment]
    entry = spec["proxies"][proxy]
    view = {**spec, "model": entry.get("model", spec["model"]), "proxies": {}}
    view["training"] = {**spec["training"], **entry.get("training", {})}
    if "checkpoint" in entry:
        view["training"]["stop_at"] = entry["checkpoint"]
    if "budget" in entry:
        view["training"]["max_tokens"] = entry["budget"]
    return {**config, "experiments": {**config["experiments"], experiment: view}}


def train_subsets(config: Config, experiment: str, dataset: str) -> list[SubsetKey]:
    """One subset per seed of a train set, at its budget (the experiment's or its override;
    `all` for a whole-pool choice, which has none)."""
    spec = config["experiments"][experiment]
    tokenizer = budget_tokenizer(config, experiment)
    whole = dataset in whole_pool_sets(config, experiment)
    budget = paths.ALL if whole else train_budget(spec, dataset)[0]
    return [SubsetKey(tokenizer, dataset, budget, seed) for seed in spec["seeds"]]


def eval_subset(config: Config, experiment: str, dataset: str) -> SubsetKey:
    """The one subset of a benchmark, at the experiment's eval budget."""
    spec = config["experiments"][experiment]
    return SubsetKey(budget_tokenizer(config, experiment), dataset, spec["eval_budget"], 0)


def subset_parts(config: Config, dataset: str) -> dict[str, dict[str, Any]]:
    """The datasets a subset draws from with their weights: itself, or a mixture's components."""
    entry = config["datasets"][dataset]
    weights = entry.get("mixture") or {dataset: 1}
    return {
        part: {
            "weight": weight,
            **{
                k: config["datasets"][part][k]
                for k in ("fields", "format", "template", "shuffle_seed")
            },
        }
        for part, weight in weights.items()
    }


def panel_datasets(config: Config, experiment: str) -> list[str]:
    """The datasets every panel member scores: the candidate, the benchmarks, the controls."""
    spec = config["experiments"][experiment]
    return [spec["candidate"], *spec["benchmarks"], *spec["controls"]]


def flag_reference(panel: Config) -> str | None:
    """The benchmark whose trusted answers calibrate a panel's support flags: `flag_reference`,
    else the target when the panel scores it as a dataset; None without one (or when off)."""
    if panel["flag_reference"] is not None:
        return panel["flag_reference"] or None
    target = panel["target"] or next(iter(panel["benchmarks"]), None)
    return target if target in panel["benchmarks"] else None


def panel_prompt(panel: Config, dataset: str) -> dict[str, Any]:
    """The prompt a panel scores `dataset` with: its own override, else the panel's."""
    return panel["prompts"].get(dataset, panel["prompt"])


def control_prompt(fields: list[str]) -> dict[str, Any]:
    """A control corpus is scored as running text: its first field, no question, no shots."""
    return {"question": "", "answer": "{" + fields[0] + "}", "shots": 0, "separator": ""}


def running_text_prompt(entry: Config) -> dict[str, Any]:
    """A dataset's examples as running text for a panel member (a pair's template filled)."""
    if entry["format"] != "pair":
        return control_prompt(entry["fields"])
    answer = entry["template"] or "\n".join(f"{{{field}}}" for field in entry["fields"])
    return {**control_prompt(entry["fields"]), "answer": answer}


def selection_name(config: Config, experiment: str, strategy: str) -> str:
    """The train set a strategy's choice becomes (its subsets are named like any dataset's)."""
    owner = selection_owner(config, experiment, strategy)
    return paths.fill(paths.SELECTED, exp=owner, strategy=strategy)


def selection_owner(config: Config, experiment: str, strategy: str) -> str:
    """What names a strategy's choice: its experiment, or for a strategy that takes the whole
    pool, the pool (`pool-{digest}` of what decides those examples: the pool's datasets as they
    are read, the target's and benchmarks' that are held out of it, the tokenizer counting
    them, the strategy's entry), so experiments that differ only in what a whole pool ignores
    (the budget, other strategies) share its subsets, models and evaluations."""
    if not takes_whole_pool(config, experiment, strategy):
        return experiment
    spec = config["experiments"][experiment]
    decides = {
        "pool": pool_parts(config, experiment),
        "held_out": {d: subset_parts(config, d) for d in [spec["target"], *spec["eval"]]},
        "tokenizer": named_model(config, budget_tokenizer(config, experiment)),
        "strategy": spec["strategies"][strategy],
    }
    return paths.fill(paths.WHOLE_POOL, digest=content_digest(decides))


def takes_whole_pool(config: Config, experiment: str, strategy: str) -> bool:
    """Whether a strategy takes every eligible pool example (it has no budget)."""
    return registered_strategy(strategy_method(config, experiment, strategy)).everything


def whole_pool_sets(config: Config, experiment: str) -> list[str]:
    """The train sets of an experiment that are whole-pool choices."""
    spec = config["experiments"][experiment]
    strategies = spec["strategies"] if spec["kind"] == "select" else {}
    return [
        selection_name(config, experiment, strategy)
        for strategy in strategies
        if takes_whole_pool(config, experiment, strategy)
    ]


def strategy_method(config: Config, experiment: str, strategy: str) -> str:
    """The registry entry a strategy runs: its `method:`, else its own name."""
    return config["experiments"][experiment]["strategies"][strategy]["method"] or strategy


def pool_parts(config: Config, experiment: str) -> dict[str, dict[str, Any]]:
    """The datasets a selection's pool holds (a mixture's parts; weights do not apply)."""
    return {
        part: spec
        for dataset in config["experiments"][experiment]["pool"]
        for part, spec in subset_parts(config, dataset).items()
    }


def row_source(config: Config, dataset: str) -> str:
    """What a dataset's rows are: its source, or its mixture parts' sources with their shares."""
    datasets = config["datasets"]
    weights = datasets[dataset].get("mixture") or {dataset: 1}
    total = sum(weights.values())
    parts = {
        json.dumps({k: v for k, v in download_spec(config, part).items() if k in SOURCES}): round(
            weight / total, 12
        )
        for part, weight in weights.items()
    }
    return json.dumps(sorted(parts.items()))


def train_units(config: Config, experiment: str) -> dict[str, str]:
    """Each train set's unit of independence: train sets that read the same rows share one.

    Two definitions of one file (say one formatted as pairs, one split into statements) or two
    budgets of one corpus are not independent evidence, so the analysis clusters them as one
    unit named by its members joined with '+'. Mixtures in other proportions stay distinct.
    """
    if config["experiments"][experiment]["kind"] == "select":  # a strategy is one unit
        return {name: name for name in train_sets(config, experiment)}
    train = list(config["experiments"][experiment]["train"])
    members: dict[str, list[str]] = {}
    for dataset in train:
        members.setdefault(row_source(config, dataset), []).append(dataset)
    return {dataset: "+".join(group) for group in members.values() for dataset in group}
