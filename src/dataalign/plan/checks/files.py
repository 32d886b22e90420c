"""Config files as written: YAML errors and keys written twice, with their lines; schema errors as
one line; folders the jobs write into that cannot be written."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from dataalign.errors import ConfigError
from dataalign.plan import paths

MERGE = "tag:yaml.org,2002:merge"  # YAML's `<<` key


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
