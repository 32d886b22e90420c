"""Gradient (LESS-style): each pool example's gradient of the probe's loss, sketched to a fixed
dimension, scored by its cosine with the target's mean sketched gradient (a GPU job).

An example is worth choosing when a step on it moves the probe the way a step on the target
does (Xia et al., 2024). The gradients and their sketch: `dataalign.select.gradients`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from dataalign.plugins import option
from dataalign.select.strategies import Strategy, StrategyView


def score(pool, index, target: Sequence[str], settings) -> np.ndarray:
    """Cosine of each example's sketched gradient with the target's mean; -inf for an example
    too short to have a next token."""
    from dataalign.align.metrics.task2vec import probe_model
    from dataalign.select.gradients import GradientSketch, sketched

    model, tokenizer = probe_model(settings["probe"])
    sketch = GradientSketch(model, settings["layers"], settings["dimension"], settings["seed"])
    seq_len, batch_size = settings["seq_len"], settings["batch_size"]
    direction = np.nanmean(sketched(sketch, tokenizer, list(target), seq_len, batch_size), axis=0)
    direction /= np.linalg.norm(direction)
    scores = [
        sketched(sketch, tokenizer, texts, seq_len, batch_size) @ direction
        for texts in tqdm(pool.texts(), desc="gradient sketches", unit="batch")
    ]
    scores = np.concatenate(scores) if scores else np.empty(0)
    return np.where(np.isnan(scores), -np.inf, scores)


def settings(entry, view: StrategyView) -> dict[str, Any]:
    """The Task2Vec probe and its sequence length; the sketch's size, layers and seed."""
    task2vec = view.embed_settings("task2vec")
    return {
        "probe": task2vec["probe"],
        "seq_len": task2vec["options"]["seq_len"],
        **{key: entry[key] for key in OPTIONS},
    }


OPTIONS = {
    "layers": option(
        1,
        "the probe's (`alignment.task2vec.probe`) last transformer blocks whose matrix weights' "
        "per-example gradients are compared",
        type="integer",
        minimum=1,
    ),
    "dimension": option(
        8192,
        "numbers each example's gradient is sketched to (a seeded CountSketch: inner products "
        "kept in expectation, variance ∝ 1/dimension)",
        type="integer",
        minimum=16,
    ),
    "batch_size": option(64, "examples per backward pass", type="integer", minimum=1),
    "seed": option(0, "seed of the sketch", type="integer", minimum=0),
}
STRATEGY = Strategy("gradient", score=score, options=OPTIONS, settings=settings, on_gpu=True)
