"""Checks on a config that a JSON schema cannot express, run at parse time before any job.

The schema (`dataalign.schemas.config_schema`: the YAML and the plug-ins' options) fixes keys,
types and defaults; these check the cross-references (experiments name datasets and models that
exist, formats name the fields they need, budgets fit the data) and raise ConfigError naming the
key and the fix. What is legal but costs the results something (too few Task2Vec groups for an
error bar) is logged as a warning.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from dataalign.align.metrics import metric as registered_metric
from dataalign.align.metrics import registry as metric_registry
from dataalign.align.task2vec import MIN_GROUPS
from dataalign.errors import ConfigError, ModelSpecError
from dataalign.io import find_installed
from dataalign.models import ModelSpec, resolve_location
from dataalign.plan import paths
from dataalign.plan.lookup import (
    SOURCES,
    Config,
    experiments_of_kind,
    panel_prompt,
    pool_parts,
    subset_parts,
    train_sets,
    used_datasets,
)
from dataalign.plan.paths import ALL
from dataalign.schemas import validate_config_schema
from dataalign.select.strategies import registry as strategy_registry
from dataalign.templates import PLACEHOLDER, format_fields

FIELDS_NEEDED = {"text": (1, 1), "pair": (2, 2), "split": (2, None)}
MERGE = "tag:yaml.org,2002:merge"  # YAML's `<<` key
log = logging.getLogger(__name__)


def explain_schema_error(cause: Exception) -> str:
    """Turn a jsonschema error into one line naming the key and the fix."""
    key = ".".join(str(p) for p in cause.absolute_path) or "(top level)"
    fix = {
        "additionalProperties": "remove or rename it; config/README.md lists every key",
        "required": "add it; config/README.md explains it",
        "type": f"give a value of type {cause.validator_value}",
        "minimum": f"use a value of at least {cause.validator_value}",
        "exclusiveMinimum": f"use a value above {cause.validator_value}",
        "minItems": f"give at least {cause.validator_value}",
        "uniqueItems": "list each value once",
        "enum": f"use one of {cause.validator_value}",
        "not": "that name is reserved; choose another",
        "pattern": "names start with a letter or digit and use letters, digits, '.', '-' and "
        "single '_' (no '__': it separates train__eval in output paths; no '/')",
    }.get(cause.validator)
    if fix is None:  # anyOf, oneOf, enum...: what the key takes, in the schema's words
        described = cause.schema.get("description")
        fix = f"the key takes {described}" if described else "see config/README.md"
    return f"config key {key}: {cause.message}. Fix: {fix}."


def read_config_file(path: str | Path) -> dict[str, Any]:
    """One YAML config file, refusing with its line what YAML would get wrong or Snakemake would
    report without a place: a syntax error (line and column) and a key written twice in one
    mapping (YAML silently keeps the last, so a second `datasets:` entry of one name would
    replace the first unseen)."""
    import yaml

    class Strict(yaml.SafeLoader):
        pass

    def mapping(loader: Strict, node: yaml.MappingNode, deep: bool = False) -> dict:
        lines: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == MERGE:  # `<<: *anchor`: keys written here override the anchor's
                continue
            key, line = loader.construct_object(key_node, deep=True), key_node.start_mark.line + 1
            if key in lines:
                raise ConfigError(
                    f"config file {path}: key {key!r} is written twice in one mapping (lines "
                    f"{lines[key]} and {line}); YAML would silently keep the second. Fix: remove "
                    "or rename one of them."
                )
            lines[key] = line
        loader.flatten_mapping(node)
        return loader.construct_mapping(node, deep=deep)

    Strict.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
    with open(path) as handle:
        try:
            loaded = yaml.load(handle, Loader=Strict)
        except yaml.MarkedYAMLError as error:
            mark = error.problem_mark or error.context_mark
            place = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "somewhere"
            problem = " ".join(filter(None, (error.context, error.problem)))
            raise ConfigError(
                f"config file {path} is not valid YAML at {place}: {problem}. Fix: check the "
                "indentation (spaces, not tabs) and the brackets and quotes opened before it."
            ) from None
    if not isinstance(loaded, dict):
        raise ConfigError(f"config file {path} holds no mapping of keys. Fix: config/README.md.")
    return loaded


# The folders jobs write into, deepest first: rows, checkpoints, results, resources, logs, `.`.
WRITTEN = (
    Path(paths.ROWS).parent,
    Path(paths.CHECKPOINTS).parent,
    Path(paths.BENCHMARKS).parent,
    Path(paths.ROWS).parents[1],
    Path(paths.log("rule", "key")).parents[1],
    Path("."),
)


def check_writable(root: str | Path = ".") -> None:
    """Refuse to start when a folder the jobs write into exists but cannot be written (a
    read-only copy of results, a quota-locked share): one line naming it, not a job's traceback
    and Snakemake's failed cleanup after it."""
    for folder in (Path(root) / name for name in WRITTEN):
        if folder.is_dir() and not os.access(folder, os.W_OK | os.X_OK):
            raise ConfigError(
                f"folder {folder} cannot be written by this user, and the jobs write into it. "
                f"Fix: chmod -R u+w {folder}, or run from a working directory you can write "
                "(snakemake --directory DIR)."
            )


def validate_config(config: dict[str, Any]) -> None:
    """Fill schema defaults into `config` in place, then check it; ConfigError on the first fault.

    The Snakefile calls this at parse time, so a bad config stops the run before any job starts.
    """
    from jsonschema import ValidationError

    try:
        validate_config_schema(config)
    except ValidationError as error:
        raise ConfigError(explain_schema_error(error)) from None
    check_config(config)


def check_config(config: Config) -> None:
    """Raise ConfigError on the first cross-reference a schema cannot check.

    Expects a config whose defaults the schema already filled (see `validate_config`).
    """
    models, datasets = config["models"], config["datasets"]
    for name, entry in models.items():
        if "trained" in entry:
            _check_trained(name, entry, config["experiments"])
            continue
        try:
            spec = ModelSpec.from_config(name, entry)
            if spec.path or spec.gguf:
                resolve_location(spec.path or spec.gguf, name, "path" if spec.path else "gguf")
        except ModelSpecError as error:
            raise ConfigError(f"config key {error}") from None
        if spec.architecture is not None and spec.tokenizer not in models:
            raise ConfigError(
                f"config key models.{name}.tokenizer: a fresh architecture needs a tokenizer; "
                f"name a model under models: (got {spec.tokenizer!r})."
            )
    for name, entry in datasets.items():
        _check_dataset(name, entry, datasets)
    for name in used_datasets(config):
        _check_local_path(name, datasets[name])
    for name, experiment in config["experiments"].items():
        if experiment["kind"] == "panel":
            _check_panel(name, experiment, models, datasets)
            continue
        _check_metrics(name, experiment)
        _check_experiment(name, experiment, models, datasets)
        if experiment["kind"] == "select":
            _check_select(name, experiment, config)
        _check_sizes(name, experiment, config)
    _check_strategy_names(config)
    _check_studies(config)
    for warning in task2vec_group_warnings(config):
        log.warning("Note: %s", warning)
    used = {m for e in config["experiments"].values() for m in e.get("metrics", [])}
    for metric in used:
        key = registered_metric(metric).model_key
        chosen = config["alignment"][metric][key] if key else None
        if key and chosen not in models:
            raise ConfigError(
                f"config key alignment.{metric}.{key}: unknown model {chosen!r}; declare it under "
                f"models: (known: {sorted(models)})."
            )
        if key:
            _check_not_trained(f"alignment.{metric}.{key}", chosen, models)


def task2vec_group_warnings(config: Config) -> list[str]:
    """Settings under which Task2Vec's alignments certainly get no SE/CI (fewer than MIN_GROUPS).

    A dataset forms min(batches, sequences // batch_size) groups of sequences, and the error bar
    needs MIN_GROUPS on each side. At parse time only budgets in tokens are known, so this warns
    where `batches` is below MIN_GROUPS, or a budget (at most one sequence per token) cannot
    hold MIN_GROUPS batches; whether a subset's sequences fill its `batches` is known only once
    it is drawn, and the embed job logs it before the probe runs (`task2vec.warn_few_groups`).
    """
    options = config["alignment"]["task2vec"]
    users = [
        name
        for name, spec in config["experiments"].items()
        if spec["kind"] != "panel" and "task2vec" in spec.get("metrics", [])
    ]
    warnings = []
    if users and options["batches"] < MIN_GROUPS:
        warnings.append(
            f"alignment.task2vec.batches: {options['batches']} batches form at most as many "
            f"groups of sequences per dataset, fewer than the {MIN_GROUPS} Task2Vec's se and CI "
            f"need, so they are NaN in {', '.join(users)}. Fix: batches >= {MIN_GROUPS}, with "
            f"subsets of at least {MIN_GROUPS} x batch_size sequences."
        )
    least = MIN_GROUPS * options["batch_size"]
    for name in users:
        budgets = config["experiments"][name].get("budgets", {})
        for dataset in train_sets(config, name):
            budget = budgets.get(dataset, config["experiments"][name]["budget"])
            if budget < least:
                where = f"budgets.{dataset}" if dataset in budgets else "budget"
                warnings.append(
                    f"experiments.{name}.{where}: {budget} tokens hold fewer than {MIN_GROUPS} "
                    f"Task2Vec batches of {options['batch_size']} sequences, so {dataset}'s "
                    "Task2Vec se and CI are NaN. Fix: a larger budget or a smaller "
                    "alignment.task2vec.batch_size."
                )
    return warnings


def _check_metrics(name: str, experiment: Config) -> None:
    """Every metric an experiment names is a registered plug-in (dataalign.align.metrics)."""
    for metric in experiment.get("metrics", []):
        if metric not in metric_registry():
            raise ConfigError(
                f"config key experiments.{name}.metrics: no alignment metric {metric!r}; use one "
                f"of {sorted(metric_registry())}."
            )


def _check_dataset(name: str, entry: Mapping[str, Any], datasets: Config) -> None:
    key = f"datasets.{name}"
    if "mixture" in entry and set(SOURCES) & set(entry):
        raise ConfigError(f"config key {key}: a mixture has no hub:, local: or installed:.")
    if not {*SOURCES, "mixture"} & set(entry):
        raise ConfigError(
            f"config key {key}: say where its rows come from: hub:, local:, installed: or mixture:."
        )
    if "mixture" in entry:
        for part in entry["mixture"]:
            if part not in datasets or "mixture" in datasets[part]:
                raise ConfigError(
                    f"config key {key}.mixture.{part}: a mixture combines datasets with a source "
                    "of their own; declare it under datasets: or remove it."
                )
        return
    fields = entry.get("fields")
    if not fields:
        raise ConfigError(
            f"config key {key}.fields is missing: name the column(s) holding the text, "
            "e.g. fields: [text]."
        )
    low, high = FIELDS_NEEDED[entry["format"]]
    if len(fields) < low or (high is not None and len(fields) > high):
        wanted = f"{low}" if low == high else f"at least {low}"
        raise ConfigError(
            f"config key {key}.fields: format '{entry['format']}' needs {wanted} field(s), "
            f"got {len(fields)}: {fields}."
        )
    moved = [f for f in entry.get("shuffle", {}).get("fields", []) if f not in fields]
    if moved:
        raise ConfigError(
            f"config key {key}.shuffle.fields: {moved} are not in fields {fields}; a shuffle "
            "moves the values of the dataset's own fields."
        )
    unknown = [p for p in PLACEHOLDER.findall(entry.get("template") or "") if p not in fields]
    if unknown:
        raise ConfigError(
            f"config key {key}.template: placeholder(s) {unknown} are not in fields {fields}; "
            "each {name} in the template must be one of the fields."
        )


def _check_experiment(name: str, experiment: Config, models: Config, datasets: Config) -> None:
    key = f"experiments.{name}"
    if experiment["model"] not in models:
        raise ConfigError(
            f"config key {key}.model: unknown model {experiment['model']!r}; "
            f"declare it under models: (known: {sorted(models)})."
        )
    _check_not_trained(f"{key}.model", experiment["model"], models)
    for role in ("train", "eval", "pool"):
        for dataset in experiment.get(role, []):
            if dataset not in datasets:
                raise ConfigError(
                    f"config key {key}.{role}: unknown dataset {dataset!r}; declare it under "
                    f"datasets: or fix the name (known: {sorted(datasets)})."
                )
    for dataset in experiment.get("budgets", {}):
        if dataset not in experiment["train"]:
            raise ConfigError(
                f"config key {key}.budgets.{dataset}: not one of this experiment's train sets "
                f"{experiment['train']}; remove it or add the dataset to train."
            )


def _check_local_path(name: str, entry: Config) -> None:
    if "local" not in entry:
        return
    path = entry["local"]["path"]
    found = find_installed(path)
    if found is None:
        raise ConfigError(
            f"config key datasets.{name}.local.path: {path!r} does not exist "
            f"(looked in {Path.cwd()} and in installed packages). Fix: correct the path, or run "
            "from the folder it is relative to."
        )
    if found.is_dir():
        files = sorted(f.name for f in found.iterdir() if f.is_file())[:8]
        raise ConfigError(
            f"config key datasets.{name}.local.path: {path!r} is a folder; a dataset is one "
            f"file (.jsonl, .json, .csv, .parquet or .txt, optionally gzipped). Fix: name the "
            f"file inside it (it holds {files})."
        )


def _check_sizes(name: str, experiment: Config, config: Config) -> None:
    """Budgets, windows and seeds that cannot work are rejected before any job runs."""
    key, training = f"experiments.{name}", experiment["training"]
    architecture = config["models"][experiment["model"]].get("architecture", {})
    stride = experiment["evaluation"]["stride"]
    context = experiment["evaluation"]["context"] or next(
        (architecture[k] for k in ("n_positions", "max_position_embeddings") if k in architecture),
        None,
    )
    sliding = experiment["evaluation"]["convention"] == "paper"  # lm_eval ignores the stride
    if sliding and stride is not None and context is not None and stride >= context:
        raise ConfigError(
            f"config key {key}.evaluation.stride: {stride} is not below the context of {context} "
            "tokens, so windows would skip or misplace tokens. Fix: a stride below the context "
            f"(e.g. {context // 2}), or null for half of it."
        )
    budgets = experiment.get("budgets", {})
    for dataset in train_sets(config, name):
        budget = budgets.get(dataset, experiment["budget"])
        where = f"budgets.{dataset}" if dataset in budgets else "budget"
        if budget < training["seq_len"]:
            raise ConfigError(
                f"config key {key}.{where}: {budget} tokens is less than one training sequence "
                f"(training.seq_len {training['seq_len']}). Fix: raise the budget or lower "
                f"{key}.training.seq_len."
            )
        task2vec = config["alignment"]["task2vec"]["batch_size"]
        if "task2vec" in experiment["metrics"] and budget < task2vec:
            raise ConfigError(
                f"config key {key}.{where}: {budget} tokens cannot hold one Task2Vec batch of "
                f"{task2vec} sequences. Fix: raise the budget or lower "
                "alignment.task2vec.batch_size."
            )
        if experiment["kind"] != "select":  # a selection's pool is checked by its own job
            _check_draws_fit(key, dataset, budget, experiment["seeds"], config)
    if experiment["eval_budget"] != ALL:
        for dataset in experiment["eval"]:
            for part, size, share in _local_sizes(dataset, config):
                if experiment["eval_budget"] * share > size:
                    raise ConfigError(
                        f"config key {key}.eval_budget: {experiment['eval_budget']} tokens from "
                        f"{part!r}, but its file has {size:,} bytes (at most that many tokens). "
                        f"Fix: an eval_budget of at most {int(size / share):,}, or all."
                    )


def _check_draws_fit(key: str, dataset: str, budget: int, seeds: list[int], config: Config) -> None:
    """Seed k is the k-th disjoint draw: a local file too small for seed max+1 draws is refused."""
    draws = max(seeds) + 1
    for part, size, share in _local_sizes(dataset, config):
        if draws * budget * share > size:
            fit = int(size // (budget * share))
            raise ConfigError(
                f"config key {key}.seeds: seed {max(seeds)} is draw {draws} of {budget} tokens "
                f"from {part!r}, but its file has {size:,} bytes (at most that many tokens), "
                f"room for {fit} disjoint draw(s). Fix: seeds from 0 to {max(fit - 1, 0)} (seed k "
                "is the k-th disjoint draw), or a smaller budget."
            )


def _local_sizes(dataset: str, config: Config) -> Iterator[tuple[str, int, float]]:
    """Each local part of a dataset whose size as text is known: (part, bytes, share of it).

    A file of n bytes holds at most n tokens (every tokenizer here spends a byte or more per
    token), so a budget above that is certainly impossible; the subset job checks the rest. A
    template adds words of its own, so `pair` parts are skipped.
    """
    parts = subset_parts(config, dataset)
    total = sum(spec["weight"] for spec in parts.values())
    for part, spec in parts.items():
        entry = config["datasets"][part]
        if "local" not in entry or spec["format"] == "pair":
            continue
        path = find_installed(entry["local"]["path"])
        size = _uncompressed_bytes(path) if path is not None else None
        if size is not None:
            yield part, size, spec["weight"] / total


def _uncompressed_bytes(path: Path) -> int | None:
    """A local file's size as text: gzip's recorded size, none for Parquet (it is compressed)."""
    if path.suffix == ".parquet" or not path.is_file():
        return None
    with open(path, "rb") as handle:
        if handle.read(2) != b"\x1f\x8b":
            return path.stat().st_size
        handle.seek(-4, os.SEEK_END)  # ISIZE: the uncompressed size modulo 2^32
        size = int.from_bytes(handle.read(4), "little")
    return size if path.stat().st_size < 2**32 else None


def _check_trained(name: str, entry: Config, experiments: Config) -> None:
    key, trained = f"models.{name}.trained", entry["trained"]
    others = [k for k in ("hub", "path", "gguf", "architecture", "tokenizer") if k in entry]
    if others:
        raise ConfigError(
            f"config key models.{name}: a trained: model is this pipeline's output; remove "
            f"{others} or declare the other source as a model of its own."
        )
    experiment = experiments.get(trained["experiment"])
    if experiment is None or experiment["kind"] == "panel":
        raise ConfigError(
            f"config key {key}.experiment: {trained['experiment']!r} is not a fine-tuning or "
            "pre-training experiment of this config; name one that trains models."
        )
    trains = train_sets({"experiments": experiments}, trained["experiment"])
    if trained["train"] not in trains or trained["seed"] not in experiment["seeds"]:
        raise ConfigError(
            f"config key {key}: experiment {trained['experiment']!r} trains "
            f"{trains} with seeds {experiment['seeds']}, not "
            f"{trained['train']!r} with seed {trained['seed']}; pick one of those."
        )


def _check_not_trained(key: str, model: str, models: Config) -> None:
    """Only panels load a `trained:` model (they wait for it); elsewhere it has no weights yet."""
    if "trained" in models[model]:
        raise ConfigError(
            f"config key {key}: {model!r} is a trained: model, which only panels can use; "
            "name a model with its own source (hub, path, gguf or architecture)."
        )


def _check_panel(name: str, panel: Config, models: Config, datasets: Config) -> None:
    key = f"experiments.{name}"
    for model in panel["models"]:
        if model not in models:
            raise ConfigError(
                f"config key {key}.models: unknown model {model!r}; declare it under models: "
                f"(known: {sorted(models)})."
            )
    for dataset in panel["prompts"]:
        if dataset not in [panel["candidate"], *panel["benchmarks"]]:
            raise ConfigError(
                f"config key {key}.prompts.{dataset}: not the candidate or a benchmark of this "
                "panel; remove it or fix the name."
            )
    roles = [("candidate", panel["candidate"])] + [("benchmarks", b) for b in panel["benchmarks"]]
    for role, dataset in roles + [("controls", c) for c in panel["controls"]]:
        if dataset not in datasets or "mixture" in datasets[dataset]:
            raise ConfigError(
                f"config key {key}.{role}: {dataset!r} is not a dataset with a source of its "
                f"own; declare it under datasets: (known: {sorted(datasets)})."
            )
    scores = panel["benchmark_scores"]
    tasks = scores["lm_eval"]["tasks"] if isinstance(scores, dict) else []
    if panel["target"] is not None and panel["target"] not in [*panel["benchmarks"], *tasks]:
        raise ConfigError(
            f"config key {key}.target: {panel['target']!r} is not one of the panel's benchmarks "
            f"{[*panel['benchmarks'], *tasks]}; name one of them (or leave it out for the first)."
        )
    if panel["flag_reference"] and panel["flag_reference"] not in panel["benchmarks"]:
        raise ConfigError(
            f"config key {key}.flag_reference: {panel['flag_reference']!r} is not one of the "
            f"panel's benchmark datasets {panel['benchmarks']}; name one whose answers are "
            "right (or false for no support flags)."
        )
    for _, dataset in roles:
        prompt = panel_prompt(panel, dataset)
        where = f"prompts.{dataset}" if dataset in panel["prompts"] else "prompt"
        try:
            used = format_fields(prompt["question"] + prompt["answer"])
        except ValueError as error:
            raise ConfigError(
                f"config key {key}.{where}: {error}. Fix: name a field of dataset {dataset!r} "
                f"in braces, e.g. {{{datasets[dataset]['fields'][0]}}}; write {{{{ and }}}} for "
                "literal braces."
            ) from None
        missing = [f for f in used if f not in datasets[dataset]["fields"]]
        if missing:
            raise ConfigError(
                f"config key {key}.{where}: placeholder(s) {missing} are not fields of dataset "
                f"{dataset!r} ({datasets[dataset]['fields']}); add them to its fields or give "
                f"{key}.prompts.{dataset} its own templates."
            )
    if not panel["benchmarks"] and not panel["benchmark_scores"]:
        raise ConfigError(
            f"config key {key}: a panel needs benchmarks to compare with; give benchmarks: "
            "(datasets scored like the candidate) and/or benchmark_scores: (a CSV or lm_eval "
            "tasks)."
        )


def _check_studies(config: Config) -> None:
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


def _check_select(name: str, spec: Config, config: Config) -> None:
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
    known = [next(_local_sizes(part, config), None) for part in parts]
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


def _check_strategy_names(config: Config) -> None:
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
