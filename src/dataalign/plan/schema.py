"""The full config schema: the schema file with every plug-in's options, from the registries.

Every metric's `alignment.<name>` block comes from its `Metric.options`; a strategy entry is
checked against its method's `Strategy.options` per entry (a strategy's method defaults to its
name, which a schema cannot express). It sits in the plan because it reads the plug-in
registries, which the plan alone sits above.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from typing import Any

from dataalign.align.metrics import registry as metric_registry
from dataalign.errors import ConfigError
from dataalign.schemas import filled, option_block, schema_file
from dataalign.select.strategies import registry as strategy_registry
from dataalign.select.strategies import strategy


def config_schema() -> dict[str, Any]:
    """The YAML schema with every registered metric's `alignment.<name>` block (`$defs/<name>`).

    Composed on each call from the registries (cached themselves), so a plug-in added to a
    registry's search path is in the next schema.
    """
    schema = copy.deepcopy(schema_file())
    alignment = schema["properties"]["alignment"]["properties"]
    for name, metric in metric_registry().items():
        schema["$defs"][name] = option_block(metric.options)
        alignment[name] = {"$ref": f"#/$defs/{name}", "default": {}}
    return schema


def strategy_schema(method: str) -> dict[str, Any]:
    """A strategy entry of `method`: the options every method takes, and its own."""
    common = schema_file()["$defs"]["strategy"]["properties"]
    return option_block({**common, **strategy(method).options})


def validate_config_schema(config: dict[str, Any]) -> None:
    """Validate `config` against the composed schema, then each select experiment's strategies
    against their method's options, filling every default in place.

    Raises jsonschema's ValidationError (its `absolute_path` the config key), or ConfigError
    naming an option a strategy's method does not take. A strategy of an unknown method is left
    to `dataalign.plan.checks`, which names the known methods.
    """
    from jsonschema import ValidationError

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
