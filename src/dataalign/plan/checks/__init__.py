"""Checks on a config that a JSON schema cannot express, run at parse time before any job.

The schema (`dataalign.plan.schema.config_schema`: the YAML and the plug-ins' options) fixes keys,
types and defaults; these check the cross-references (experiments name datasets and models that
exist, formats name the fields they need, budgets fit the data) and raise ConfigError naming the
key and the fix. What is legal but
costs the results something (too few Task2Vec groups for an error bar), or will fail only if
its target is run (a Hub dataset while offline), is logged as a warning.
One module per part of the config: `files` (the YAML as written, writable folders), `sources`
(datasets and their sizes), `experiments` (training experiments and models), `panel`, `select`.
"""

from __future__ import annotations

import logging
from typing import Any

from dataalign.errors import ConfigError, ModelSpecError
from dataalign.models import ModelSpec, resolve_location
from dataalign.plan.checks.experiments import (
    check_alignment_models,
    check_experiment,
    check_metrics,
    check_proxies,
    check_trained,
    small_proxy_warnings,
    task2vec_group_warnings,
)
from dataalign.plan.checks.files import explain_schema_error
from dataalign.plan.checks.panel import check_panel
from dataalign.plan.checks.select import check_select, check_strategy_names, check_studies
from dataalign.plan.checks.sources import (
    check_dataset,
    check_local_path,
    check_sizes,
    offline_warnings,
)
from dataalign.plan.lookup import Config, proxy_view, used_datasets
from dataalign.plan.schema import validate_config_schema

log = logging.getLogger(__name__)


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
        if "trained" in entry:  # checked after the experiments: it names one of their runs
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
        check_dataset(name, entry, datasets)
    for name in used_datasets(config):
        check_local_path(name, datasets[name])
    for name, experiment in config["experiments"].items():
        if experiment["kind"] == "panel":
            check_panel(name, experiment, models, datasets)
            continue
        check_metrics(name, experiment)
        check_experiment(name, experiment, models, datasets)
        if experiment["kind"] == "select":
            check_select(name, experiment, config)
        check_sizes(name, experiment, config)
        check_proxies(name, config)
        for proxy in experiment.get("proxies", {}):
            check_sizes(name, proxy_view(config, name, proxy)["experiments"][name], config)
    for name, entry in models.items():
        if "trained" in entry:
            check_trained(name, entry, config)
    check_strategy_names(config)
    check_studies(config)
    for warning in [
        *offline_warnings(config),
        *task2vec_group_warnings(config),
        *small_proxy_warnings(config),
    ]:
        log.warning("Note: %s", warning)
    check_alignment_models(config)
