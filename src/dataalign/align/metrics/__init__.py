"""Alignment metrics as plug-ins: one module per metric in this package, found by name.

Every metric has the same two stages: embed a subset once (cached as a Parquet table), then
combine two embeddings into an alignment coefficient cheaply. A module here defines `METRIC`, a
`Metric` naming the metric, whether embedding runs a model (a GPU job), which of its config keys
decide each stage, and the two functions. The config schema's checks, the rules' wildcards and
the jobs' settings all read this registry, so adding a metric is one module (plus its tests and
its `alignment.<name>` defaults in the schema, if it has settings).

Modules import their heavy dependencies inside their functions: the registry is read when the
workflow is parsed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import pandas as pd

from dataalign.align.stats import Alignment
from dataalign.io import ParquetColumn
from dataalign.plugins import discover, registered

Settings = Mapping[str, Any]
Texts = Sequence[str] | ParquetColumn


@dataclass(frozen=True)
class Metric:
    """One alignment metric: its name, its cost, its settings and its two stages.

    `embed(texts, settings, name)` embeds a subset (`name` labels progress); `align(a, b,
    settings, workers)` combines two embeddings. `embed_keys` and `align_keys` are the keys of
    its `alignment.<name>` config section each stage depends on (the bootstrap's resamples and the
    metric's `seed` are added to alignment's); `model_key` names a model under `models:`, inlined
    into the embed settings as {name, entry}; with `nested_options` every other key of the
    section goes to embed under `options` (Task2Vec's options dataclass takes them whole).
    """

    name: str
    on_gpu: bool
    embed: Callable[[Texts, Settings, str], pd.DataFrame]
    align: Callable[[pd.DataFrame, pd.DataFrame, Settings, int], Alignment]
    embed_keys: tuple[str, ...] = ()
    align_keys: tuple[str, ...] = ()
    model_key: str | None = None
    nested_options: bool = False

    def embed_settings(self, section: Settings, model: Callable[[str], dict]) -> dict[str, Any]:
        """The slice of its config section (model spec inlined) that decides an embedding."""
        inlined = {self.model_key: model(section[self.model_key])} if self.model_key else {}
        if self.nested_options:
            return {**inlined, "options": {k: v for k, v in section.items() if k != self.model_key}}
        return {**inlined, **{key: section[key] for key in self.embed_keys}}


@cache
def registry() -> dict[str, Metric]:
    """Every metric module of this package, by metric name."""
    return discover(__name__, __path__, "METRIC")


def metric(name: str) -> Metric:
    """The registered metric `name`; ConfigError naming the known ones otherwise."""
    return registered(registry(), name, "alignment metric")


def embed_subset(name: str, texts: Texts, settings: Settings, label: str) -> pd.DataFrame:
    """Embed one subset's texts with metric `name`; `settings` is its embed slice."""
    return metric(name).embed(texts, settings, label)


def align_embeddings(
    name: str, a: pd.DataFrame, b: pd.DataFrame, settings: Settings, workers: int = 2
) -> Alignment:
    """Combine two cached embeddings into an alignment coefficient (cheap; no model needed)."""
    return metric(name).align(a, b, settings, workers)
