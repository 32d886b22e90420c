"""SBERT: each example's mean cosine similarity with the target's examples (a GPU job)."""

from __future__ import annotations

from typing import Any

import numpy as np

from dataalign.errors import ConfigError
from dataalign.select.strategies import Strategy


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


def settings(config, experiment: str, entry) -> dict[str, Any]:
    from dataalign.plan.lookup import named_model

    model = named_model(config, model_name(entry, config))
    return {"model": model, "batch_size": entry["batch_size"]}


def check(key: str, entry, scored: list[str], config) -> None:
    if model_name(entry, config) not in config["models"]:
        raise ConfigError(f"config key {key}.model: declare the sentence model under models:.")


STRATEGY = Strategy("sbert", score=score, settings=settings, on_gpu=True, check=check)
