"""Alignment metrics as plug-ins: one module per metric in this package, found by name.

Every metric has the same two stages: embed a subset once (cached as a Parquet table), then
combine two embeddings into an alignment coefficient cheaply. A module here defines `METRIC`, a
`Metric` naming the metric, whether embedding runs a model (a GPU job), its options (its
`alignment.<name>` config block, composed into the config schema by `dataalign.plan.schema`), which
of them decide each stage, and the two functions. The config schema, its checks, the rules'
wildcards and the jobs' settings all read this registry, so adding a metric is one module (plus
its tests).

Modules import their heavy dependencies inside their functions: the registry is read when the
workflow is parsed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cache
from typing import Any

import numpy as np
import pandas as pd

from dataalign.align.stats import Alignment
from dataalign.io import ParquetColumn
from dataalign.plugins import discover, registered

log = logging.getLogger(__name__)
Settings = Mapping[str, Any]
Texts = Sequence[str] | ParquetColumn
MAX_EXAMPLES = {  # the option of every metric that embeds examples one by one (`embed_subset`)
    "type": "integer",
    "minimum": 2,
    "default": 20000,
    "description": "examples of one subset embedded at most: a larger subset (a corpus-sized "
    "pre-training set) embeds a uniform sample of this many, seeded by the metric's `seed`, read "
    "one Parquet row group at a time, so time and memory are bounded by the sample (Task2Vec is "
    "bounded by its batches). The tables' `n_total` and `sampling_se` say how many examples the "
    "subsets held and how much of `se` the sampling adds. Changing it (or the metric's `seed`) "
    "re-embeds",
}


@dataclass(frozen=True)
class Metric:
    """One alignment metric: its name, its cost, its options and its two stages.

    `embed(texts, settings, name)` embeds a subset (`name` labels progress); `align(a, b,
    settings, workers)` combines two embeddings. `options` are the JSON-schema properties (with
    their defaults) of its `alignment.<name>` config section; `embed_keys` and `align_keys` are
    those each stage depends on (the bootstrap's resamples and the metric's `seed` are added to
    alignment's); `model_key` names a model under `models:`, inlined into the embed settings as
    {name, entry}; with `nested_options` every other key of the section goes to embed under
    `options` (Task2Vec's options dataclass takes them whole). `flops(embed settings)` estimates
    a model-based metric's FLOPs per embedded subset, where its work does not grow with the data.
    """

    name: str
    on_gpu: bool
    embed: Callable[[Texts, Settings, str], pd.DataFrame]
    align: Callable[[pd.DataFrame, pd.DataFrame, Settings, int], Alignment]
    embed_keys: tuple[str, ...] = ()
    align_keys: tuple[str, ...] = ()
    model_key: str | None = None
    nested_options: bool = False
    options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    flops: Callable[[Settings], float] | None = None  # embedding one subset, from its settings

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
    """Embed one subset's texts with metric `name`; `settings` is its embed slice.

    A metric with `max_examples` among its settings embeds one row per example: a subset holding
    more examples embeds a uniform sample of that many (seeded by the metric's `seed`), read row
    group by row group, so time and memory are bounded by the sample, not the corpus. Its
    embedding's `attrs["examples"]` (kept in the Parquet file) records how many the subset held.
    """
    most = settings.get("max_examples")
    if most is None:  # Task2Vec: bounded by its batches
        return metric(name).embed(texts, settings, label)
    held = len(texts)
    if held > most:
        positions = example_sample(held, most, settings["seed"])
        log.info("%s: embedding a seeded sample of %d of its %d examples", label, most, held)
        texts = (
            texts.take(positions) if isinstance(texts, ParquetColumn) else sampled(texts, positions)
        )
    embedding = metric(name).embed(texts, settings, label)
    embedding.attrs["examples"] = held
    return embedding


def sampled(texts: Sequence[str], positions: np.ndarray) -> list[str]:
    return [texts[p] for p in positions]


def example_sample(held: int, most: int, seed: int) -> np.ndarray:
    """Sorted positions of a uniform sample of `most` of `held` examples, without replacement."""
    return np.sort(np.random.default_rng(seed).choice(held, size=most, replace=False))


def align_embeddings(
    name: str, a: pd.DataFrame, b: pd.DataFrame, settings: Settings, workers: int = 2
) -> Alignment:
    """Combine two cached embeddings into an alignment coefficient (cheap; no model needed),
    with the share of the subsets' examples they hold (below 1 where a subset was sampled)."""
    result = metric(name).align(a, b, settings, workers)
    if "examples" not in a.attrs and "examples" not in b.attrs:  # Task2Vec: rows are batches
        return result
    held = sum(e.attrs.get("examples", len(e)) for e in (a, b))
    return replace(result, n_total=held, read_share=(len(a) + len(b)) / held)
