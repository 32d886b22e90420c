"""Task2Vec: each chunk of consecutive examples scored by its Fisher embedding's alignment with
the target's batches (a GPU job)."""

from __future__ import annotations

from typing import Any

import numpy as np
from tqdm.auto import tqdm

from dataalign.select.pool import chunked_texts
from dataalign.select.strategies import Strategy


def score(pool, index, target, settings) -> np.ndarray:
    """Task2Vec alignment (1 - mean distance to the target's batch embeddings) of each chunk of
    `chunk` consecutive examples of one dataset, given to every example of the chunk."""
    from dataalign.align.metrics.task2vec import probe_model
    from dataalign.align.task2vec import Task2VecOptions, distance_matrix
    from dataalign.align.task2vec_embedding import embed_task2vec

    model, tokenizer = probe_model(settings["probe"])
    options, chunk = settings["options"], settings["chunk"]
    target_options = Task2VecOptions(**{**options, "batch_size": chunk})
    reference = embed_task2vec(model, tokenizer, list(target), target_options, "target")
    scores = []
    for name, texts in tqdm(chunked_texts(pool, chunk), desc="task2vec chunks", unit="chunk"):
        single = Task2VecOptions(**{**options, "batch_size": len(texts), "batches": 1})
        vector = embed_task2vec(model, tokenizer, texts, single, name)
        scores.append(np.full(len(texts), 1.0 - distance_matrix(vector, reference).mean()))
    return np.concatenate(scores)


def settings(config, experiment: str, entry) -> dict[str, Any]:
    """The Task2Vec metric's probe and options, and the chunk size."""
    from dataalign.plan.params import embed_settings

    return {**embed_settings(config, "task2vec"), "chunk": entry["chunk"]}


STRATEGY = Strategy("task2vec", score=score, settings=settings, on_gpu=True)
