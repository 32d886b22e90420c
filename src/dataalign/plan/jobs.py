"""The distinct jobs of a config: each trained model, evaluation, panel scoring and selection once,
however many experiments ask for it."""

from __future__ import annotations

from typing import Any

from dataalign.analysis import BASE
from dataalign.digest import content_digest
from dataalign.plan import paths
from dataalign.plan.lookup import (
    Config,
    eval_subset,
    experiments_of_kind,
    fine_tunes,
    named_model,
    proxies,
    proxy_view,
    selection_owner,
    strategy_method,
    tokenizer_owner,
    train_sets,
    train_subsets,
    train_units,
    training_experiments,
)
from dataalign.plan.params import EvaluationParams, panel_requests, pool_requests, train_params
from dataalign.plan.records import (
    Evaluation,
    HarnessRun,
    PanelScoring,
    Selection,
    TrainedModel,
)
from dataalign.select.strategies import strategy


def trained_model(config: Config, experiment: str, train: str, seed: int) -> TrainedModel:
    """The model an experiment trains on one draw (seed) of one train set."""
    subset = next(k for k in train_subsets(config, experiment, train) if k.seed == seed)
    model = config["experiments"][experiment]["model"]
    return TrainedModel(model, subset, train_params(config, experiment, seed))


def experiment_views(config: Config, experiment: str) -> list[Config]:
    """The config as an experiment's own runs see it, then as each of its proxies' runs do."""
    return [config, *(proxy_view(config, experiment, p) for p in proxies(config, experiment))]


def training_runs(config: Config) -> dict[str, TrainedModel]:
    """Every distinct model any experiment (or proxy) trains, by name: each is trained once."""
    runs = {}
    for name in training_experiments(config):
        for view in experiment_views(config, name):
            for train in train_sets(view, name):
                for seed in view["experiments"][name]["seeds"]:
                    run = trained_model(view, name, train, seed)
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
        digest = content_digest([base["model"], base["tokenizer"]])
        run = paths.fill(paths.BASE_RUN, model=spec["model"], digest=digest)
        models.append((run, base["model"], base["tokenizer"], {"train": BASE, "seed": 0}))
    return [
        Evaluation(
            run,
            eval_subset(config, experiment, dataset),
            EvaluationParams(
                model=model,
                tokenizer=tokenizer,
                options=options,
                labels={"train": labels["train"], "eval": dataset, "seed": labels["seed"]},
            ),
        )
        for run, model, tokenizer, labels in models
        for dataset in spec["eval"]
    ]


def trained_evaluations(config: Config, experiment: str) -> list[Evaluation]:
    """An experiment's trained models on its benchmarks (its base model left out)."""
    evaluations = experiment_evaluations(config, experiment)
    return [e for e in evaluations if e.params["labels"]["train"] != BASE]


def proxy_evaluations(config: Config, experiment: str, proxy: str) -> list[Evaluation]:
    """A proxy's models on the experiment's benchmarks."""
    return trained_evaluations(proxy_view(config, experiment, proxy), experiment)


def evaluation_runs(config: Config) -> dict[str, Evaluation]:
    """Every distinct evaluation of the config, by output path: each is computed once."""
    runs = {}
    for name in training_experiments(config):
        runs.update((e.path, e) for e in experiment_evaluations(config, name))
        for proxy in proxies(config, name):
            runs.update((e.path, e) for e in proxy_evaluations(config, name, proxy))
    return runs


def trained_member(config: Config, name: str) -> TrainedModel | None:
    """The model a `trained:` entry names (an experiment's train set and seed), else None."""
    trained = config["models"][name].get("trained")
    if trained is None:
        return None
    return trained_model(config, trained["experiment"], trained["train"], trained["seed"])


def panel_model(config: Config, name: str) -> dict[str, dict[str, Any]]:
    """A panel member and its tokenizer as jobs load them.

    A model this pipeline trains becomes its output folder (which holds its tokenizer); a fresh
    architecture borrows the tokenizer it names.
    """
    entry = dict(config["models"][name])
    run = trained_member(config, name)
    if run is not None:
        del entry["trained"]
        entry["path"] = run.folder
    model = {"name": name, "entry": entry}
    owner = tokenizer_owner(config, name)
    return {"model": model, "tokenizer": model if owner == name else named_model(config, owner)}


def harness_runs(config: Config, experiment: str) -> list[HarnessRun]:
    """The lm-eval jobs a panel's `benchmark_scores: {lm_eval: ...}` asks for, one per member."""
    scores = config["experiments"][experiment]["benchmark_scores"]
    if not isinstance(scores, dict):
        return []
    settings = dict(scores["lm_eval"])  # the schema filled its defaults
    settings.pop("metrics")  # read from the results; running the tasks does not depend on it
    common = {"settings": settings, "precision": config["precision"]}
    return [
        HarnessRun(model, {**panel_model(config, model), **common})
        for model in config["experiments"][experiment]["models"]
    ]


def panel_scorings(config: Config) -> dict[str, PanelScoring]:
    """One scoring job per panel member, by model name, over the union of the requests of its
    panels and of the panel-reading strategies (perplexity correlations) it sits on."""
    asked = [
        (
            config["experiments"][name]["models"],
            panel_requests(config, name),
            config["experiments"][name]["batch_size"],
        )
        for name in experiments_of_kind(config, "panel")
    ]
    for selection in selections(config).values():
        entry = config["experiments"][selection.experiment]["strategies"][selection.strategy]
        if strategy(selection.method).panel:
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


def selections(config: Config) -> dict[str, Selection]:
    """Every strategy of every selection experiment, by its name (`{exp}.{strategy}`)."""
    found = [
        Selection(
            name,
            strategy,
            strategy_method(config, name, strategy),
            config["experiments"][name]["shards"],
            selection_owner(config, name, strategy),
        )
        for name in experiments_of_kind(config, "select")
        for strategy in config["experiments"][name]["strategies"]
    ]
    return {selection.name: selection for selection in found}


def selection_panels(config: Config) -> dict[str, list[str]]:
    """The panel members each panel-reading strategy reads, by selection name."""
    return {
        name: config["experiments"][s.experiment]["strategies"][s.strategy]["models"]
        for name, s in selections(config).items()
        if strategy(s.method).panel
    }


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
