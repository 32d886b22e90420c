"""The config's JSON schema, the one source of its defaults for the workflow and the library.

The workflow validates every config against `CONFIG_SCHEMA` (filling its defaults); the
library's option dataclasses (`Task2VecOptions`, `TrainOptions`) take their defaults from the
same file through `defaults`, so a notebook and a pipeline run agree without a second copy.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml

CONFIG_SCHEMA = Path(__file__).resolve().parent / "config.schema.yaml"


@cache
def _schema() -> dict[str, Any]:
    return yaml.safe_load(CONFIG_SCHEMA.read_text())


def defaults(definition: str | None = None) -> dict[str, Any]:
    """The default of every key that has one, of one of the schema's `$defs` or of the top level."""
    schema = _schema()
    properties = (schema["$defs"][definition] if definition else schema)["properties"]
    return {key: spec["default"] for key, spec in properties.items() if "default" in spec}
