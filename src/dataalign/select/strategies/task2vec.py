"""Task2Vec: each chunk of consecutive examples scored by its Fisher embedding's alignment with
the target's batches (a GPU job)."""

from __future__ import annotations

from typing import Any

import numpy as np
from tqdm.auto import tqdm

from dataalign.plugins import option
from dataalign.select.pool import chunked_texts
from dataalign.select.strategies import Strategy, StrategyView


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


def settings(entry, view: StrategyView) -> dict[str, Any]:
    """The Task2Vec metric's probe and options, and the chunk size."""
    return {**view.embed_settings("task2vec"), "chunk": entry["chunk"]}


OPTIONS = {
    "chunk": option(
        16,
        "consecutive examples (of one dataset) embedded together with the `alignment.task2vec` "
        "probe and options (one probe Fisher each); each gets its chunk's 1 - mean Task2Vec "
        "distance to the target's batches",
        type="integer",
        minimum=1,
    )
}
STRATEGY = Strategy("task2vec", score=score, options=OPTIONS, settings=settings, on_gpu=True)
