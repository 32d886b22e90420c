"""Training experiments and models: the metrics, models and datasets an experiment names exist,
`trained:` models point at runs this config makes, and settings that cost a Task2Vec error bar."""

from __future__ import annotations

from dataalign.align.metrics import metric as registered_metric
from dataalign.align.metrics import registry as metric_registry
from dataalign.align.task2vec import MIN_GROUPS
from dataalign.analysis.frontier import CEILING, NOISE_FREE, POOLED, TARGET
from dataalign.errors import ConfigError
from dataalign.plan.lookup import Config, proxy_view, train_budget, train_sets
from dataalign.resources import parameter_estimate
from dataalign.schemas import schema_file

SMALL_PROXY = 15e6  # parameters: olmix's proxies from here on rank like the 1B target (rho > 0.89)


def check_metrics(name: str, experiment: Config) -> None:
    """Every metric an experiment names is a registered plug-in (dataalign.align.metrics)."""
    for metric in experiment.get("metrics", []):
        if metric not in metric_registry():
            raise ConfigError(
                f"config key experiments.{name}.metrics: no alignment metric {metric!r}; use one "
                f"of {sorted(metric_registry())}."
            )


def check_experiment(name: str, experiment: Config, models: Config, datasets: Config) -> None:
    key = f"experiments.{name}"
    role = "tokenizer" if experiment["kind"] == "align" else "model"  # align trains no model
    if experiment[role] not in models:
        raise ConfigError(
            f"config key {key}.{role}: unknown model {experiment[role]!r}; "
            f"declare it under models: (known: {sorted(models)})."
        )
    check_not_trained(f"{key}.{role}", experiment[role], models)
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


def check_trained(name: str, entry: Config, config: Config) -> None:
    key, trained, experiments = f"models.{name}.trained", entry["trained"], config["experiments"]
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
    trains = train_sets(config, trained["experiment"])
    if trained["train"] not in trains or trained["seed"] not in experiment["seeds"]:
        raise ConfigError(
            f"config key {key}: experiment {trained['experiment']!r} trains "
            f"{trains} with seeds {experiment['seeds']}, not "
            f"{trained['train']!r} with seed {trained['seed']}; pick one of those."
        )


def check_not_trained(key: str, model: str, models: Config) -> None:
    """Only panels load a `trained:` model (they wait for it); elsewhere it has no weights yet."""
    if "trained" in models[model]:
        raise ConfigError(
            f"config key {key}: {model!r} is a trained: model, which only panels can use; "
            "name a model with its own source (hub, path, gguf or architecture)."
        )


def check_alignment_models(config: Config) -> None:
    """The model a metric embeds with (e.g. Task2Vec's probe) is declared and has weights."""
    models = config["models"]
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
            check_not_trained(f"alignment.{metric}.{key}", chosen, models)


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
        for dataset in train_sets(config, name):
            budget, where = train_budget(config["experiments"][name], dataset)
            if budget < least:
                warnings.append(
                    f"experiments.{name}.{where}: {budget} tokens hold fewer than {MIN_GROUPS} "
                    f"Task2Vec batches of {options['batch_size']} sequences, so {dataset}'s "
                    "Task2Vec se and CI are NaN. Fix: a larger budget or a smaller "
                    "alignment.task2vec.batch_size."
                )
    return warnings


def check_proxies(name: str, config: Config) -> None:
    """A proxy names a declared model with weights of its own, training options the experiment
    has (valid once merged), and changes something: else it would train the experiment's own
    models."""
    from jsonschema import ValidationError, validate

    experiment, models = config["experiments"][name], config["models"]
    training = schema_file()["$defs"]["training"]
    taken = sorted({TARGET, CEILING, NOISE_FREE, POOLED, *metric_registry()})
    if experiment.get("proxies") and len(experiment["seeds"]) < 2:
        raise ConfigError(
            f"config key experiments.{name}.seeds: proxies are scored against the target's "
            "other seeds (a shared draw would earn them credit), so they need at least 2 seeds; "
            "give seeds: [0, 1]."
        )
    for proxy, entry in experiment.get("proxies", {}).items():
        key = f"config key experiments.{name}.proxies.{proxy}"
        if proxy in taken:
            raise ConfigError(
                f"{key}: the frontier table already has a row named {proxy!r}; rename the proxy "
                f"(taken: {taken})."
            )
        model = entry.get("model")
        if model is not None and model not in models:
            raise ConfigError(
                f"{key}.model: unknown model {model!r}; declare it under models: "
                f"(known: {sorted(models)})."
            )
        if model is not None:
            check_not_trained(f"{key.removeprefix('config key ')}.model", model, models)
        unknown = sorted(set(entry.get("training", {})) - set(training["properties"]))
        if unknown:
            raise ConfigError(
                f"{key}.training: unknown option(s) {unknown}; a proxy changes the experiment's "
                f"training options ({sorted(training['properties'])})."
            )
        if entry.get("budget", 0) >= experiment["budget"]:
            raise ConfigError(
                f"{key}.budget: {entry['budget']} tokens is not below the experiment's budget "
                f"{experiment['budget']}; a proxy trains on part of each draw. Fix: a smaller "
                "budget, or leave it out."
            )
        view = proxy_view(config, name, proxy)["experiments"][name]
        try:
            validate(view["training"], training | {"additionalProperties": True})
        except ValidationError as error:
            where = ".".join(map(str, error.absolute_path))
            raise ConfigError(f"{key}.training.{where}: {error.message}.") from None
        if all(view[k] == experiment[k] for k in ("model", "training")):
            raise ConfigError(
                f"{key}: trains the experiment's own models (nothing differs). Fix: change its "
                "model, budget or training, or give checkpoint: a share of the steps."
            )


def small_proxy_warnings(config: Config) -> list[str]:
    """Proxies whose model is below ~15M parameters, where rankings agree less with the target's
    (olmix: 1M-parameter proxies reach rho 0.73 against a 1B target, 15M ones above 0.89)."""
    warnings = []
    for name, spec in config["experiments"].items():
        for proxy, entry in spec.get("proxies", {}).items():
            if "model" not in entry:  # the experiment's own model: the target is what is small
                continue
            model = entry["model"]
            size = parameter_estimate(config["models"][model])
            if size is not None and size < SMALL_PROXY:
                warnings.append(
                    f"experiments.{name}.proxies.{proxy}: model {model!r} has about "
                    f"{size / 1e6:.1f}M parameters; below ~15M a proxy's ranking agrees less "
                    "with the target's (olmix). Fine for a CPU study; on a cluster, a larger one."
                )
    return warnings
