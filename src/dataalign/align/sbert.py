"""SBERT alignment: mean pairwise cosine similarity of normalised sentence embeddings.

For unit vectors the mean over all pairs equals the dot product of the two mean vectors, so a
pair of datasets costs one dot product; a bootstrap over both datasets' examples gives the SE.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from dataalign.align.stats import (
    RESAMPLES,
    Alignment,
    resampling_weights,
    small_sample,
    summarise,
    swap_for_symmetry,
)
from dataalign.plugins import defaults_of, option

# The SBERT metric's options under `alignment.sbert` (the plug-in adds `max_examples`), and these
# functions' defaults: written once.
OPTIONS = {
    "model": option(
        "minilm",
        "name under `models:` of a sentence-transformers model",
        type="string",
    ),
    "batch_size": option(64, "sentences per forward pass", type="integer", minimum=1),
    "seed": option(0, "seed of the bootstrap and the example sample", type="integer", minimum=0),
}
DEFAULTS = defaults_of(OPTIONS)


def load_sentence_model(path_or_id: str, device: str = "auto"):
    """A sentence-transformers model from a local folder (offline) or a Hub id."""
    from sentence_transformers import SentenceTransformer

    from dataalign.models import resolve_device

    return SentenceTransformer(str(path_or_id), device=str(resolve_device(device)))


def embed_sentences(
    model, texts: Sequence[str], batch_size: int = DEFAULTS["batch_size"]
) -> np.ndarray:
    """Unit-norm sentence embeddings (examples x dimensions), with a progress bar."""
    return model.encode(
        list(texts),
        batch_size=batch_size,
        normalize_embeddings=True,
        convert_to_numpy=True,
        show_progress_bar=True,
    ).astype(np.float32)


def sbert_alignment(
    a: np.ndarray, b: np.ndarray, resamples: int = RESAMPLES, seed: int = 0
) -> Alignment:
    """Mean cosine similarity over all example pairs, its pair spread and a bootstrap CI.

    Never forms the N x M similarity matrix: the mean is mean(a) . mean(b), the mean square is
    trace(A'A/N . B'B/M), and each resample reweights the examples of both datasets. Resampling
    runs in a canonical order so the result does not depend on which dataset comes first. The
    train SE reweights a's examples only (b, the benchmark, held fixed).
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    swapped = swap_for_symmetry(a.tobytes(), b.tobytes())
    if swapped:
        a, b = b, a
    value = float(a.mean(axis=0) @ b.mean(axis=0))
    mean_square = float(np.sum((a.T @ a / len(a)) * (b.T @ b / len(b))))
    rng = np.random.default_rng(seed)
    means_a = resampling_weights(len(a), resamples, rng) @ a / len(a)
    means_b = resampling_weights(len(b), resamples, rng) @ b / len(b)
    draws = np.einsum("rd,rd->r", means_a, means_b)
    result = summarise(value, np.sqrt(max(mean_square - value**2, 0.0)), draws, len(a) + len(b))
    train_draws = means_b @ a.mean(axis=0) if swapped else means_a @ b.mean(axis=0)
    units = len(b) if swapped else len(a)
    train_se = float(train_draws.std(ddof=1)) * small_sample(units)
    return replace(result, train_se=train_se, train_df=float(units - 1))
