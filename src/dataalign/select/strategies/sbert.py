"""SBERT: each example's mean cosine similarity with the target's examples (a GPU job)."""

from __future__ import annotations

from typing import Any

import numpy as np

from dataalign.errors import ConfigError
from dataalign.plugins import option
from dataalign.select.strategies import Strategy, StrategyView


def score(pool, index, target, settings) -> np.ndarray:
    """The SBERT metric's pair mean: an example's unit embedding dotted with the target's mean
    embedding."""
    from dataalign.align.metrics.sbert import sentence_model
    from dataalign.align.sbert import embed_sentences

    model = sentence_model(settings["model"])
    centre = embed_sentences(model, target, settings["batch_size"]).mean(axis=0)
    return np.concatenate(
        [embed_sentences(model, texts, settings["batch_size"]) @ centre for texts in pool.texts()]
    ).astype(np.float64)


def model_name(entry, config) -> str:
    """The strategy's sentence model: its own, else the SBERT metric's."""
    return entry["model"] or config["alignment"]["sbert"]["model"]


def settings(entry, view: StrategyView) -> dict[str, Any]:
    """The sentence model's spec (its own, else the SBERT metric's) and the batch size."""
    model = view.model(entry["model"]) if entry["model"] else view.embed_settings("sbert")["model"]
    return {"model": model, "batch_size": entry["batch_size"]}


def check(key: str, entry, scored: list[str], config) -> None:
    if model_name(entry, config) not in config["models"]:
        raise ConfigError(f"config key {key}.model: declare the sentence model under models:.")


OPTIONS = {
    "model": option(
        None,
        "sentence model under `models:` (null: `alignment.sbert.model`); score: mean cosine "
        "with the target's examples",
        type=["string", "null"],
    ),
    "batch_size": option(64, "texts per encoding batch", type="integer", minimum=1),
}
STRATEGY = Strategy(
    "sbert", score=score, options=OPTIONS, settings=settings, on_gpu=True, check=check
)
