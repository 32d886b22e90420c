"""SBERT: mean cosine similarity of sentence embeddings; the embedding is a `vector` per example
from a sentence model (a GPU job)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from dataalign.align.metrics import MAX_EXAMPLES, Metric, Settings, Texts
from dataalign.align.sbert import OPTIONS as LIBRARY_OPTIONS

OPTIONS = {**LIBRARY_OPTIONS, "max_examples": MAX_EXAMPLES}


def sentence_model(model: dict[str, Any]):
    """The sentence model, from its {name, entry} spec (a local folder or a Hub id)."""
    from dataalign.align.sbert import load_sentence_model
    from dataalign.models import ModelSpec, resolve_location

    spec = ModelSpec.from_config(**model)
    return load_sentence_model(resolve_location(spec.path, spec.name) if spec.path else spec.hub)


def embed(texts: Texts, settings: Settings, name: str) -> pd.DataFrame:
    from dataalign.align.sbert import embed_sentences

    model = sentence_model(settings["model"])
    return pd.DataFrame(
        {"vector": list(embed_sentences(model, list(texts), settings["batch_size"]))}
    )


def align(a: pd.DataFrame, b: pd.DataFrame, settings: Settings, workers: int):
    from dataalign.align.sbert import sbert_alignment

    vectors_a, vectors_b = (np.stack(e["vector"].to_numpy()) for e in (a, b))
    return sbert_alignment(vectors_a, vectors_b, settings["bootstrap"], settings["seed"])


METRIC = Metric(
    "sbert",
    on_gpu=True,
    embed=embed,
    align=align,
    embed_keys=("batch_size", "max_examples", "seed"),
    align_keys=("seed",),
    model_key="model",
    options=OPTIONS,
)
