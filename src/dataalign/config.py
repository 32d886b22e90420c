"""Checks and lookups on a validated config that a JSON schema cannot express.

The schema (workflow/schemas/config.schema.yaml) fixes keys, types and defaults; this module
checks the cross-references (experiments name datasets and models that exist, formats name the
fields they need) and answers the questions rules ask, such as which subsets an experiment needs.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

from dataalign.errors import ConfigError, ModelSpecError
from dataalign.io import find_installed
from dataalign.models import ModelSpec
from dataalign.subsets import PLACEHOLDER

Config = Mapping[str, Any]
FIELDS_NEEDED = {"text": (1, 1), "pair": (2, 2), "split": (2, None)}
SOURCES = ("local", "installed", "hub")  # by precedence
TRAINING_KINDS = ("finetune", "pretrain", "select")  # experiments that train models
SELECTION_METHODS = ("random", "dsir", "gzip", "sbert", "task2vec", "perplexity_correlations")
RANKING_METHODS = ("gzip", "sbert", "task2vec")  # rank by a score; a temperature samples instead
MODEL_METHODS = ("sbert", "task2vec")  # score the pool with a model: a GPU job


class SubsetKey(NamedTuple):
    """One token-budget subset: `results/subsets/{tokenizer}/{dataset}/{budget}-{seed}.parquet`."""

    tokenizer: str
    dataset: str
    budget: int | str
    seed: int

    @property
    def path(self) -> str:
        return f"results/subsets/{self.tokenizer}/{self.dataset}/{self.budget}-{self.seed}.parquet"

    @property
    def tokens(self) -> str:
        """Its token ids, EOS after each example, in a memory-mappable .npy (training reads it)."""
        return self.path.removesuffix(".parquet") + ".tokens.npy"


class TrainedModel(NamedTuple):
    """One distinct trained model: decided by its base model, options and subset, not by who asks.

    Its folder `results/models/{model}/{dataset}/{budget}-{seed}-{digest}` reads as what it is;
    the digest covers everything that decides the weights, so two experiments asking for the same
    model share it and an edited option gets a new folder.
    """

    model: str
    subset: SubsetKey
    params: dict[str, Any]

    @property
    def name(self) -> str:
        digest = content_digest({"params": self.params, "subset": self.subset})
        dataset, budget, seed = self.subset.dataset, self.subset.budget, self.subset.seed
        return f"{self.model}/{dataset}/{budget}-{seed}-{digest}"

    @property
    def folder(self) -> str:
        return f"results/models/{self.name}"

    @property
    def from_scratch(self) -> bool:
        """Pre-training starts from a fresh architecture; fine-tuning from pretrained weights."""
        return "architecture" in self.params["model"]["entry"]


class Evaluation(NamedTuple):
    """One model (trained, or an experiment's untrained base) scored on one eval subset."""

    run: str  # a TrainedModel name, or `{model}/base/{digest}` for the untrained model
    subset: SubsetKey
    params: dict[str, Any]

    @property
    def path(self) -> str:
        digest = content_digest({"params": self.params, "subset": self.subset})
        dataset, budget = self.subset.dataset, self.subset.budget
        return f"results/eval/{self.run}/{dataset}/{budget}-{digest}.parquet"


def content_digest(value: Any) -> str:
    """A short stable hash of a JSON-able value: the content part of an output's name."""
    encoded = json.dumps(value, sort_keys=True, default=str).encode()
    return hashlib.sha256(encoded).hexdigest()[:10]


def explain_schema_error(error: Exception) -> str:
    """Turn Snakemake's wrapped jsonschema error into one line naming the key and the fix."""
    cause = error.__context__  # Snakemake raises its WorkflowError while handling jsonschema's
    if not hasattr(cause, "absolute_path"):
        return str(error)
    key = ".".join(str(p) for p in cause.absolute_path) or "(top level)"
    fix = {
        "additionalProperties": "remove or rename it; config/README.md lists every key",
        "required": "add it; config/README.md explains it",
        "type": f"give a value of type {cause.validator_value}",
        "minimum": f"use a value of at least {cause.validator_value}",
        "exclusiveMinimum": f"use a value above {cause.validator_value}",
    }.get(cause.validator, "see config/README.md for the allowed values")
    return f"config key {key}: {cause.message}. Fix: {fix}."


def validate_config(config: dict[str, Any], schema: str | Path) -> None:
    """Fill schema defaults into `config` in place, then check it; ConfigError on the first fault.

    The Snakefile calls this at parse time, so a bad config stops the run before any job starts.
    """
    from snakemake.exceptions import WorkflowError
    from snakemake.utils import validate

    try:
        validate(config, schema=str(schema))
    except WorkflowError as error:
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
        _check_experiment(name, experiment, models, datasets)
        if experiment["kind"] == "select":
            _check_select(name, experiment, config)
        _check_sizes(name, experiment, config)
    _check_strategy_names(config)
    used = {m for e in config["experiments"].values() for m in e.get("metrics", [])}
    for metric, key in (("task2vec", "probe"), ("sbert", "model")):
        chosen = config["alignment"][metric][key]
        if metric in used and chosen not in models:
            raise ConfigError(
                f"config key alignment.{metric}.{key}: unknown model {chosen!r}; declare it under "
                f"models: (known: {sorted(models)})."
            )
        if metric in used:
            _check_not_trained(f"alignment.{metric}.{key}", chosen, models)


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


def _check_local_path(name: str, entry: Config) -> None:
    if "local" in entry and find_installed(entry["local"]["path"]) is None:
        raise ConfigError(
            f"config key datasets.{name}.local.path: {entry['local']['path']!r} does not exist "
            f"(looked in {Path.cwd()} and in installed packages). Fix: correct the path, or run "
            "from the folder it is relative to."
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
    if stride is not None and context is not None and stride >= context:
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


def _check_draws_fit(key: str, dataset: str, budget: int, seeds: list[int], config: Config) -> None:
    """Seed k is the k-th disjoint draw: a local file too small for seed max+1 draws is refused.

    A file of n bytes holds at most n tokens (every tokenizer here spends a byte or more per
    token), so this catches only what is certainly impossible; the subset job checks the rest.
    """
    draws, parts = max(seeds) + 1, subset_parts(config, dataset)
    total = sum(spec["weight"] for spec in parts.values())
    for part, spec in parts.items():
        entry = config["datasets"][part]
        if "local" not in entry or spec["format"] == "pair":  # a template adds its own words
            continue
        path = find_installed(entry["local"]["path"])
        size = _uncompressed_bytes(path) if path is not None else None
        share = spec["weight"] / total
        if size is not None and draws * budget * share > size:
            fit = int(size // (budget * share))
            raise ConfigError(
                f"config key {key}.seeds: seed {max(seeds)} is draw {draws} of {budget} tokens "
                f"from {part!r}, but its file has {size:,} bytes (at most that many tokens), "
                f"room for {fit} disjoint draw(s). Fix: seeds from 0 to {max(fit - 1, 0)} (seed k "
                "is the k-th disjoint draw), or a smaller budget."
            )


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
    if panel["target"] is not None and panel["target"] not in panel["benchmarks"]:
        raise ConfigError(
            f"config key {key}.target: {panel['target']!r} is not one of the panel's benchmarks "
            f"{panel['benchmarks']}; name one of them (or leave it out for the first)."
        )
    for _, dataset in roles:
        prompt = panel_prompt(panel, dataset)
        used = PLACEHOLDER.findall(prompt["question"] + prompt["answer"])
        missing = [f for f in used if f not in datasets[dataset]["fields"]]
        if missing:
            where = f"prompts.{dataset}" if dataset in panel["prompts"] else "prompt"
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


def download_spec(config: Config, dataset: str) -> dict[str, Any]:
    """What decides a dataset's downloaded rows: its effective source, fields and row cap.

    A local file wins over an installed corpus, which wins over the Hub, so an overlay config
    can take a dataset offline without deleting its hub: entry.
    """
    entry = config["datasets"][dataset]
    kind = next(k for k in SOURCES if k in entry)
    sliced = {"skip_rows": entry["skip_rows"]} if entry.get("skip_rows") else {}
    return {kind: entry[kind], **_pick(entry, "fields", "max_rows", "max_missing"), **sliced}


def embed_settings(config: Config, metric: str) -> dict[str, Any]:
    """The config slice that decides a dataset's embedding under `metric` (model specs inlined)."""
    settings = dict(config["alignment"][metric])
    if metric == "task2vec":
        probe = settings.pop("probe")
        return {"probe": named_model(config, probe), "options": settings}
    if metric == "sbert":
        return {"model": named_model(config, settings["model"]), **_pick(settings, "batch_size")}
    if metric == "ngram":
        return _pick(settings, "n", "buckets")
    return _pick(settings, "level")


def align_settings(config: Config, metric: str) -> dict[str, Any]:
    """The config slice that decides how two embeddings combine under `metric`, and the bootstrap
    of its SE (resamples; seeded by the metric's seed)."""
    settings = config["alignment"][metric]
    resampling = {"bootstrap": config["alignment"]["bootstrap"], "seed": settings["seed"]}
    own = {"gzip": ("max_pairs", "level"), "ngram": ("buckets",)}.get(metric, ())
    return {**resampling, **_pick(settings, *own)}


def named_model(config: Config, name: str) -> dict[str, Any]:
    """A model's spec together with its name, as jobs receive it."""
    return {"name": name, "entry": config["models"][name]}


def train_params(config: Config, experiment: str, seed: int) -> dict[str, Any]:
    """What decides a trained model: base model, tokenizer, hyper-parameters, seed, precision."""
    spec = config["experiments"][experiment]
    return {
        "model": named_model(config, spec["model"]),
        "tokenizer": named_model(config, tokenizer_owner(config, spec["model"])),
        "options": {**spec["training"], "seed": seed, "precision": config["precision"]},
    }


def trained_model(config: Config, experiment: str, train: str, seed: int) -> TrainedModel:
    """The model an experiment trains on one draw (seed) of one train set."""
    subset = next(k for k in train_subsets(config, experiment, train) if k.seed == seed)
    model = config["experiments"][experiment]["model"]
    return TrainedModel(model, subset, train_params(config, experiment, seed))


def training_runs(config: Config) -> dict[str, TrainedModel]:
    """Every distinct model any experiment trains, by name: each is trained once."""
    runs = {}
    for name in training_experiments(config):
        spec = config["experiments"][name]
        for train in train_sets(config, name):
            for seed in spec["seeds"]:
                run = trained_model(config, name, train, seed)
                runs[run.name] = run
    return runs


def experiment_evaluations(config: Config, experiment: str) -> list[Evaluation]:
    """An experiment's view of the scores: every trained model (and a fine-tuning experiment's
    base model) on every benchmark, each evaluation shared with other experiments that ask."""
    spec = config["experiments"][experiment]
    options = {**spec["evaluation"], "precision": config["precision"]}
    models = []
    for train in train_sets(config, experiment):
        for seed in spec["seeds"]:
            run = trained_model(config, experiment, train, seed)
            folder = {"name": run.name, "entry": {"path": run.folder}}
            models.append((run.name, folder, folder, {"train": train, "seed": seed}))
    if fine_tunes(config, experiment):  # the untrained model: the paper's "Standard GPT-2" row
        base = train_params(config, experiment, 0)
        run = f"{spec['model']}/base/{content_digest([base['model'], base['tokenizer']])}"
        models.append((run, base["model"], base["tokenizer"], {"train": "base", "seed": 0}))
    return [
        Evaluation(
            run,
            eval_subset(config, experiment, dataset),
            {
                "model": model,
                "tokenizer": tokenizer,
                "options": options,
                "labels": {"train": labels["train"], "eval": dataset, "seed": labels["seed"]},
            },
        )
        for run, model, tokenizer, labels in models
        for dataset in spec["eval"]
    ]


def evaluation_runs(config: Config) -> dict[str, Evaluation]:
    """Every distinct evaluation of the config, by output path: each is computed once."""
    runs = {}
    for name in training_experiments(config):
        runs.update((e.path, e) for e in experiment_evaluations(config, name))
    return runs


def analysis_params(config: Config, experiment: str) -> dict[str, Any]:
    """How an experiment's alignment-vs-performance fit is computed, and its train-set units."""
    spec = config["experiments"][experiment]
    return {**spec["analysis"], "units": train_units(config, experiment)}


def row_source(config: Config, dataset: str) -> str:
    """What a dataset's rows are: its source, or its mixture parts' sources with their shares."""
    datasets = config["datasets"]
    weights = datasets[dataset].get("mixture") or {dataset: 1}
    total = sum(weights.values())
    parts = {
        json.dumps({k: v for k, v in download_spec(config, part).items() if k in SOURCES}):
        round(weight / total, 12)
        for part, weight in weights.items()
    }  # fmt: skip
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


def shared_row_warnings(config: Config) -> list[str]:
    """One line per experiment whose train sets read the same rows (they count as one unit)."""
    warnings = []
    for name in training_experiments(config):
        for unit in sorted({u for u in train_units(config, name).values() if "+" in u}):
            warnings.append(
                f"experiments.{name}: train sets {unit.replace('+', ', ')} read the same rows, so "
                f"the statistics count them as one train set {unit!r} (right for two formats of "
                "one file; for independent evidence, point one of them at other rows)."
            )
    return warnings


def experiments_of_kind(config: Config, kind: str) -> list[str]:
    """Names of the experiments of one kind: finetune, pretrain, select or panel."""
    return [name for name, spec in config["experiments"].items() if spec["kind"] == kind]


def training_experiments(config: Config) -> list[str]:
    """Names of the experiments that train models (every kind but panel)."""
    return [n for n, spec in config["experiments"].items() if spec["kind"] in TRAINING_KINDS]


def train_sets(config: Config, experiment: str) -> list[str]:
    """An experiment's train sets: its datasets, or a selection's chosen subset per strategy."""
    spec = config["experiments"][experiment]
    if spec["kind"] == "select":
        return [selection_name(experiment, strategy) for strategy in spec["strategies"]]
    return list(spec["train"])


def fine_tunes(config: Config, experiment: str) -> bool:
    """Whether an experiment trains pretrained weights (its base model is then evaluated too)."""
    spec = config["experiments"][experiment]
    fresh = "architecture" in config["models"][spec["model"]]
    return spec["kind"] == "finetune" or (spec["kind"] == "select" and not fresh)


def _pick(mapping: Mapping[str, Any], *keys: str) -> dict[str, Any]:
    return {key: mapping[key] for key in keys}


def tokenizer_owner(config: Config, model: str) -> str:
    """Name of the model whose tokenizer `model` uses (itself unless it is a fresh architecture)."""
    return config["models"][model].get("tokenizer") or model


def train_subsets(config: Config, experiment: str, dataset: str) -> list[SubsetKey]:
    """One subset per seed of a train set, at its budget (the experiment's or its override)."""
    spec = config["experiments"][experiment]
    tokenizer = tokenizer_owner(config, spec["model"])
    budget = spec.get("budgets", {}).get(dataset, spec["budget"])
    return [SubsetKey(tokenizer, dataset, budget, seed) for seed in spec["seeds"]]


def eval_subset(config: Config, experiment: str, dataset: str) -> SubsetKey:
    """The one subset of a benchmark, at the experiment's eval budget."""
    spec = config["experiments"][experiment]
    tokenizer = tokenizer_owner(config, spec["model"])
    return SubsetKey(tokenizer, dataset, spec["eval_budget"], 0)


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


def panel_model(config: Config, name: str) -> dict[str, dict[str, Any]]:
    """A panel member and its tokenizer as jobs load them.

    A model this pipeline trains becomes its output folder (which holds its tokenizer); a fresh
    architecture borrows the tokenizer it names.
    """
    entry = dict(config["models"][name])
    trained = entry.pop("trained", None)
    if trained is not None:
        run = trained_model(config, trained["experiment"], trained["train"], trained["seed"])
        entry["path"] = run.folder
    model = {"name": name, "entry": entry}
    owner = tokenizer_owner(config, name)
    return {"model": model, "tokenizer": model if owner == name else named_model(config, owner)}


def panel_requests(config: Config, experiment: str) -> list[dict[str, Any]]:
    """What a panel asks every member to score: each dataset with its prompt and sample.

    A request's digest (its `request` column in the scores) lets an experiment pick its rows
    out of a member's scores, which other panels may share.
    """
    spec = config["experiments"][experiment]
    requests = [
        {
            "dataset": dataset,
            "prompt": (
                control_prompt(config["datasets"][dataset]["fields"])
                if dataset in spec["controls"]
                else panel_prompt(spec, dataset)
            ),
            "examples": spec["examples"],
            "seed": spec["seed"],
        }
        for dataset in panel_datasets(config, experiment)
    ]
    return [{**request, "request": content_digest(request)} for request in requests]


def control_prompt(fields: list[str]) -> dict[str, Any]:
    """A control corpus is scored as running text: its first field, no question, no shots."""
    return {"question": "", "answer": "{" + fields[0] + "}", "shots": 0, "separator": ""}


def score_kinds(config: Config, experiment: str) -> dict[str, str]:
    """The score each dataset of a panel is summarised by: the panel's; controls: bits per byte."""
    spec = config["experiments"][experiment]
    return {
        dataset: "bits_per_byte" if dataset in spec["controls"] else spec["score"]
        for dataset in panel_datasets(config, experiment)
    }


def panel_params(config: Config, experiment: str) -> dict[str, Any]:
    """What a panel's correlation job needs: its roles, score kinds, fit and test settings."""
    spec = config["experiments"][experiment]
    scores = spec["benchmark_scores"]
    return {
        "models": spec["models"],
        "candidate": spec["candidate"],
        "benchmarks": spec["benchmarks"],
        "controls": spec["controls"],
        "target": spec["target"],
        "kinds": score_kinds(config, experiment),
        "fit": spec["fit"],
        "flag_fdr": spec["flag_fdr"],
        "bootstrap": spec["bootstrap"],
        "seed": spec["seed"],
        "metrics": scores["lm_eval"].get("metrics", {}) if isinstance(scores, dict) else {},
    }


HARNESS_DEFAULTS = {
    "data_dir": None,
    "include_path": None,
    "limit": None,
    "num_fewshot": None,
    "gen_kwargs": None,
    "batch_size": 8,
    "metrics": {},
}


class HarnessRun(NamedTuple):
    """One panel member's lm-evaluation-harness job for one panel's task settings."""

    model: str
    params: dict[str, Any]

    @property
    def digest(self) -> str:
        return content_digest(self.params)

    @property
    def path(self) -> str:
        return f"results/panel/{self.model}/lm_eval-{self.digest}.json"


def harness_runs(config: Config, experiment: str) -> list[HarnessRun]:
    """The lm-eval jobs a panel's `benchmark_scores: {lm_eval: ...}` asks for, one per member."""
    scores = config["experiments"][experiment]["benchmark_scores"]
    if not isinstance(scores, dict):
        return []
    settings = {**HARNESS_DEFAULTS, **scores["lm_eval"]}
    settings.pop("metrics")  # read from the results; running the tasks does not depend on it
    common = {"settings": settings, "precision": config["precision"]}
    return [
        HarnessRun(model, {**panel_model(config, model), **common})
        for model in config["experiments"][experiment]["models"]
    ]


class PanelScoring(NamedTuple):
    """One panel member's job: every request of every panel it sits on, with one model load."""

    model: str
    params: dict[str, Any]

    @property
    def path(self) -> str:
        return f"results/panel/{self.model}/scores-{content_digest(self.params)}.parquet"

    @property
    def datasets(self) -> list[str]:
        return sorted({request["dataset"] for request in self.params["requests"]})


def panel_scorings(config: Config) -> dict[str, PanelScoring]:
    """One scoring job per panel member, by model name, over the union of the requests of its
    panels and of the perplexity_correlations strategies it sits on."""
    asked = [
        (config["experiments"][name]["models"], panel_requests(config, name),
         config["experiments"][name]["batch_size"])
        for name in experiments_of_kind(config, "panel")
    ]  # fmt: skip
    for selection in selections(config).values():
        entry = config["experiments"][selection.experiment]["strategies"][selection.strategy]
        if selection.method == "perplexity_correlations":
            asked.append(
                (entry["models"], pool_requests(config, selection.experiment), entry["batch_size"])
            )
    requests: dict[str, dict[str, dict[str, Any]]] = {}
    batch_size: dict[str, int] = {}
    for models, wanted, size in asked:
        for model in models:
            for request in wanted:
                requests.setdefault(model, {})[request["request"]] = request
            batch_size[model] = min(batch_size.get(model, size), size)
    return {
        model: PanelScoring(
            model,
            {
                **panel_model(config, model),
                "requests": sorted(wanted.values(), key=lambda r: (r["dataset"], r["request"])),
                "batch_size": batch_size[model],
                "precision": config["precision"],
            },
        )
        for model, wanted in requests.items()
    }


def panel_datasets(config: Config, experiment: str) -> list[str]:
    """The datasets every panel member scores: the candidate, the benchmarks, the controls."""
    spec = config["experiments"][experiment]
    return [spec["candidate"], *spec["benchmarks"], *spec["controls"]]


def panel_prompt(panel: Config, dataset: str) -> dict[str, Any]:
    """The prompt a panel scores `dataset` with: its own override, else the panel's."""
    return panel["prompts"].get(dataset, panel["prompt"])


def selection_name(experiment: str, strategy: str) -> str:
    """The train set a strategy's choice becomes: `results/subsets/{tokenizer}/{name}/...`."""
    return f"{experiment}.{strategy}"


def strategy_method(config: Config, experiment: str, strategy: str) -> str:
    """The registry entry a strategy runs: its `method:`, else its own name."""
    return config["experiments"][experiment]["strategies"][strategy]["method"] or strategy


class Selection(NamedTuple):
    """One strategy of a selection experiment: its pool scores (computed once for every seed)."""

    experiment: str
    strategy: str
    method: str

    @property
    def folder(self) -> str:
        return f"results/selection/{self.experiment}/{self.strategy}"

    @property
    def scores(self) -> str:
        return f"{self.folder}/scores.parquet"


def selections(config: Config) -> dict[str, Selection]:
    """Every strategy of every selection experiment, by the train-set name its choice gets."""
    return {
        selection_name(name, strategy): Selection(
            name, strategy, strategy_method(config, name, strategy)
        )
        for name in experiments_of_kind(config, "select")
        for strategy in config["experiments"][name]["strategies"]
    }


def pool_parts(config: Config, experiment: str) -> dict[str, dict[str, Any]]:
    """The datasets a selection's pool holds (a mixture's parts; weights do not apply)."""
    return {
        part: spec
        for dataset in config["experiments"][experiment]["pool"]
        for part, spec in subset_parts(config, dataset).items()
    }


def strategy_settings(config: Config, experiment: str, strategy: str) -> dict[str, Any]:
    """The options of a strategy's method (model specs inlined), as its scoring job takes them."""
    spec = config["experiments"][experiment]
    entry, method = spec["strategies"][strategy], strategy_method(config, experiment, strategy)
    if method == "dsir":
        return _pick(entry, "n", "buckets", "min_example_length")
    if method == "gzip":
        return _pick(entry, "level")
    if method == "sbert":
        model = entry["model"] or config["alignment"]["sbert"]["model"]
        return {"model": named_model(config, model), "batch_size": entry["batch_size"]}
    if method == "task2vec":
        return {**embed_settings(config, "task2vec"), "chunk": entry["chunk"]}
    if method == "perplexity_correlations":
        requests = {r["dataset"]: r["request"] for r in pool_requests(config, experiment)}
        return {
            "estimator": entry["estimator"],
            "models": entry["models"],
            "requests": requests,
            "target": spec["target"],
        }
    return {}


def selection_params(config: Config, experiment: str, strategy: str) -> dict[str, Any]:
    """What decides a strategy's pool scores: method and options, pool, target, the held-out
    benchmarks and the tokenizer that counts the budget."""
    spec = config["experiments"][experiment]
    return {
        "method": strategy_method(config, experiment, strategy),
        "settings": strategy_settings(config, experiment, strategy),
        "pool": pool_parts(config, experiment),
        "target": {spec["target"]: subset_parts(config, spec["target"])},
        "benchmarks": {dataset: subset_parts(config, dataset) for dataset in spec["eval"]},
        "tokenizer": named_model(config, tokenizer_owner(config, spec["model"])),
    }


def choice_params(config: Config, experiment: str, strategy: str) -> dict[str, Any]:
    """What decides one seed's choice from the scores: method, temperature, budget, pool."""
    spec = config["experiments"][experiment]
    return {
        "method": strategy_method(config, experiment, strategy),
        "temperature": spec["strategies"][strategy]["temperature"],
        "pool": pool_parts(config, experiment),
        "tokenizer": named_model(config, tokenizer_owner(config, spec["model"])),
    }


def running_text_prompt(entry: Config) -> dict[str, Any]:
    """A dataset's examples as running text for a panel member (a pair's template filled)."""
    if entry["format"] != "pair":
        return control_prompt(entry["fields"])
    answer = entry["template"] or "\n".join(f"{{{field}}}" for field in entry["fields"])
    return {**control_prompt(entry["fields"]), "answer": answer}


def pool_requests(config: Config, experiment: str) -> list[dict[str, Any]]:
    """What perplexity_correlations asks each panel member to score: every pool example and
    every target example, as running text."""
    datasets = [*pool_parts(config, experiment), config["experiments"][experiment]["target"]]
    requests = [
        {
            "dataset": dataset,
            "prompt": running_text_prompt(config["datasets"][dataset]),
            "examples": None,
            "seed": 0,
        }
        for dataset in dict.fromkeys(datasets)
    ]
    return [{**request, "request": content_digest(request)} for request in requests]


def selection_panels(config: Config) -> dict[str, list[str]]:
    """The panel members each perplexity_correlations strategy reads, by selection name."""
    return {
        name: config["experiments"][s.experiment]["strategies"][s.strategy]["models"]
        for name, s in selections(config).items()
        if s.method == "perplexity_correlations"
    }


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
    for strategy, entry in spec["strategies"].items():
        where, method = f"{key}.strategies.{strategy}", entry["method"] or strategy
        if method not in SELECTION_METHODS:
            raise ConfigError(
                f"config key {where}: no method {method!r}; name one with method: "
                f"({', '.join(SELECTION_METHODS)})."
            )
        if entry["temperature"] is not None and method not in RANKING_METHODS:
            raise ConfigError(
                f"config key {where}.temperature: {method} does not rank by a score; a "
                f"temperature applies to {', '.join(RANKING_METHODS)}. Fix: remove it."
            )
        if (
            method == "sbert"
            and (entry["model"] or config["alignment"]["sbert"]["model"]) not in config["models"]
        ):
            raise ConfigError(
                f"config key {where}.model: declare the sentence model under models:."
            )
        if method == "perplexity_correlations":
            _check_selection_panel(where, entry, [*parts, target], config)


def _check_selection_panel(where: str, entry: Config, scored: list[str], config: Config) -> None:
    models = entry["models"]
    if len(models) < 3 or any(m not in config["models"] for m in models):
        raise ConfigError(
            f"config key {where}.models: name at least 3 models declared under models: (the "
            f"panel whose losses are correlated; got {models})."
        )
    split = [d for d in scored if config["datasets"][d]["format"] == "split"]
    if split:
        raise ConfigError(
            f"config key {where}: panel members score whole rows, but {split} split each row "
            "into several examples. Fix: format text or pair for those datasets."
        )


def _check_strategy_names(config: Config) -> None:
    """A strategy name runs with a model (a GPU job) or without, in every experiment alike."""
    on_gpu: dict[str, set[bool]] = {}
    for name in experiments_of_kind(config, "select"):
        for strategy, entry in config["experiments"][name]["strategies"].items():
            on_gpu.setdefault(strategy, set()).add((entry["method"] or strategy) in MODEL_METHODS)
    mixed = sorted(strategy for strategy, kinds in on_gpu.items() if len(kinds) > 1)
    if mixed:
        raise ConfigError(
            f"config key experiments.*.strategies: {mixed} name a model strategy (sbert, "
            "task2vec) in one experiment and another method in another; rename one of them."
        )
