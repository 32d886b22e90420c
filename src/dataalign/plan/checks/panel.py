"""Panels: members, roles and prompts name models, datasets and fields that exist."""

from __future__ import annotations

from dataalign.errors import ConfigError
from dataalign.plan.lookup import Config, panel_prompt
from dataalign.templates import format_fields


def check_panel(name: str, panel: Config, models: Config, datasets: Config) -> None:
    key = f"experiments.{name}"
    for model in panel["models"]:
        if model not in models:
            raise ConfigError(
                f"config key {key}.models: unknown model {model!r}; declare it under models: "
                f"(known: {sorted(models)})."
            )
    for dataset in panel["prompts"]:
        if dataset not in [panel["candidate"], *panel["benchmarks"], *panel["controls"]]:
            raise ConfigError(
                f"config key {key}.prompts.{dataset}: not the candidate, a benchmark or a "
                "control of this panel; remove it or fix the name."
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
    formatted = [c for c in panel["controls"] if c in panel["prompts"]]  # format controls
    for dataset in [d for _, d in roles] + formatted:
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
