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

from dataalign.select.strategies import Strategy


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


def settings(config, experiment: str, entry) -> dict[str, Any]:
    """The Task2Vec probe and its sequence length; the sketch's size, layers and seed."""
    from dataalign.plan.params import embed_settings

    task2vec = embed_settings(config, "task2vec")
    return {
        "probe": task2vec["probe"],
        "seq_len": task2vec["options"]["seq_len"],
        **{key: entry[key] for key in ("layers", "dimension", "batch_size", "seed")},
    }


STRATEGY = Strategy("gradient", score=score, settings=settings, on_gpu=True)
