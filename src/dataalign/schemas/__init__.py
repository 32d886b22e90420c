"""The config's JSON schema, the one source of its defaults for the workflow and the library.

`config.schema.yaml` holds what every config shares; each plug-in owns its options (JSON-schema
properties with defaults), so `config_schema` composes the full schema from the file and the
registries: every metric's `alignment.<name>` block, and every strategy method's options, checked
per entry by `validate_config_schema` (a strategy's method defaults to its name, which a schema
cannot express). The library's option dataclasses (`Task2VecOptions`, `TrainOptions`) take their
defaults from the composed schema through `defaults`, so a notebook and a pipeline run agree
without a second copy.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from dataalign.errors import ConfigError

SCHEMA_FILE = Path(__file__).resolve().parent / "config.schema.yaml"
Options = Mapping[str, Mapping[str, Any]]


def option_block(options: Options) -> dict[str, Any]:
    """A plug-in's config entry: its options and nothing else, each defaulted where it says."""
    return {
        "type": "object",
        "default": {},
        "additionalProperties": False,
        "properties": dict(options),
    }


@cache
def schema_file() -> dict[str, Any]:
    """`config.schema.yaml`, read once (callers copy what they change)."""
    return yaml.safe_load(SCHEMA_FILE.read_text())


def config_schema() -> dict[str, Any]:
    """The YAML schema with every registered metric's `alignment.<name>` block (`$defs/<name>`).

    Composed on each call from the registries (cached themselves), so a plug-in added to a
    registry's search path is in the next schema.
    """
    from dataalign.align.metrics import registry as metric_registry

    schema = copy.deepcopy(schema_file())
    alignment = schema["properties"]["alignment"]["properties"]
    for name, metric in metric_registry().items():
        schema["$defs"][name] = option_block(metric.options)
        alignment[name] = {"$ref": f"#/$defs/{name}", "default": {}}
    return schema


def strategy_schema(method: str) -> dict[str, Any]:
    """A strategy entry of `method`: the options every method takes, and its own."""
    from dataalign.select.strategies import strategy

    common = schema_file()["$defs"]["strategy"]["properties"]
    return option_block({**common, **strategy(method).options})


def defaults(definition: str | None = None) -> dict[str, Any]:
    """The default of every key that has one, of one of the schema's `$defs` or of the top level."""
    schema = config_schema()
    properties = (schema["$defs"][definition] if definition else schema)["properties"]
    return {key: spec["default"] for key, spec in properties.items() if "default" in spec}


def validate_config_schema(config: dict[str, Any]) -> None:
    """Validate `config` against the composed schema, then each select experiment's strategies
    against their method's options, filling every default in place.

    Raises jsonschema's ValidationError (its `absolute_path` the config key), or ConfigError
    naming an option a strategy's method does not take. A strategy of an unknown method is left
    to `dataalign.plan.checks`, which names the known methods.
    """
    from jsonschema import ValidationError

    from dataalign.select.strategies import registry as strategy_registry

    filled(config, config_schema())
    for place, method, entry in strategy_entries(config):
        if method in strategy_registry():
            schema = strategy_schema(method)
            check_options(".".join(place), method, entry, schema)
            try:
                filled(entry, schema)
            except ValidationError as error:  # placed in the config
                error.path.extendleft(reversed(place))
                raise


def strategy_entries(
    config: Mapping[str, Any],
) -> Iterator[tuple[tuple[str, ...], str, dict[str, Any]]]:
    """(place in the config, method, entry) of every strategy of every select experiment."""
    for experiment, spec in config["experiments"].items():
        if spec["kind"] == "select":
            for name, entry in spec["strategies"].items():
                place = ("experiments", experiment, "strategies", name)
                yield place, entry["method"] or name, entry


def check_options(
    key: str, method: str, entry: Mapping[str, Any], schema: Mapping[str, Any]
) -> None:
    """ConfigError, in one line, on the first key of `entry` that `method`'s `schema` lacks."""
    taken = schema["properties"]
    unknown = [option for option in entry if option not in taken]
    if unknown:
        known = ", ".join(sorted(option for option in taken if option != "method"))
        raise ConfigError(
            f"config key {key}: unknown option {unknown[0]!r} for method {method} (its options: "
            f"{known}). Fix: remove or rename it; config/README.md lists each method's options."
        )


def filled(instance: dict[str, Any], schema: Mapping[str, Any]) -> None:
    """Validate `instance` against `schema`, setting each missing key's default in place;
    jsonschema's ValidationError on the first fault."""
    defaulting_validator()(schema).validate(instance)


@cache
def defaulting_validator() -> type:
    """JSON Schema 2020-12 validation that also sets each missing property's default (a copy,
    so no two configs share a mutable default), as Snakemake's `validate` does."""
    from jsonschema import Draft202012Validator, validators

    check_properties = Draft202012Validator.VALIDATORS["properties"]

    def with_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for key, spec in properties.items():
                if "default" in spec and key not in instance:
                    instance[key] = copy.deepcopy(spec["default"])
        yield from check_properties(validator, properties, instance, schema)

    return validators.extend(Draft202012Validator, {"properties": with_defaults})
