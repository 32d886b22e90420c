"""Plug-in packages (alignment metrics, selection strategies): each module of the package defines
one plug-in object with a `name`, found by walking the package, so adding one is adding a file."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterable, Mapping
from typing import Any

from dataalign.errors import ConfigError


def discover(package: str, path: Iterable[str], attribute: str) -> dict[str, Any]:
    """The `attribute` of every module on the package's `path`, by its `name`."""
    modules = sorted(info.name for info in pkgutil.iter_modules(path))
    found = [getattr(importlib.import_module(f"{package}.{m}"), attribute) for m in modules]
    return {plugin.name: plugin for plugin in found}


def registered(plugins: Mapping[str, Any], name: str, kind: str) -> Any:
    """The plug-in `name`; ConfigError naming the known ones otherwise."""
    if name not in plugins:
        raise ConfigError(f"unknown {kind} {name!r}; use one of {sorted(plugins)}.")
    return plugins[name]


def option(default: Any, description: str, **constraints: Any) -> dict[str, Any]:
    """One option of a plug-in's config entry: a JSON-schema property with its default (as
    `type="integer", minimum=1`: the schema's keywords)."""
    return {**constraints, "default": default, "description": description}


def defaults_of(options: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Each option's default: a library function's keyword defaults, from the options it is
    configured by (written once, in the module that owns them)."""
    return {key: spec["default"] for key, spec in options.items() if "default" in spec}
