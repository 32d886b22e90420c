"""The config's JSON schema file and what reads it without the plug-ins: its defaults, and
validation that fills them.

`config.schema.yaml` holds what every config shares; each plug-in owns its options (JSON-schema
properties with defaults, written with `dataalign.plugins.option`), and `dataalign.plan.schema`
composes the full schema from the file and the registries. The library's `TrainOptions` take
their defaults from the file through `defaults`, and `Task2VecOptions` from the Task2Vec
plug-in's options, so a notebook and a pipeline run agree without a second copy.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import yaml

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


def defaults(
    definition: str | None = None, schema: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The default of every key that has one, of one of the schema's `$defs` or of the top level
    (of the schema file, unless a composed `schema` is given)."""
    schema = schema_file() if schema is None else schema
    properties = (schema["$defs"][definition] if definition else schema)["properties"]
    return {key: spec["default"] for key, spec in properties.items() if "default" in spec}


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
