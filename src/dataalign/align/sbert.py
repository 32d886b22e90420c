"""SBERT alignment: mean pairwise cosine similarity of normalised sentence embeddings.

For unit vectors the mean over all pairs equals the dot product of the two mean vectors, so a
pair of datasets costs one dot product; a bootstrap over examples gives the interval.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from dataalign.align.stats import Alignment, swap_for_symmetry


def load_sentence_model(path_or_id: str, device: str = "auto"):
    """A sentence-transformers model from a local folder (offline) or a Hub id."""
    from sentence_transformers import SentenceTransformer

    from dataalign.models import resolve_device

    return SentenceTransformer(str(path_or_id), device=str(resolve_device(device)))


def embed_sentences(model, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
    """Unit-norm sentence embeddings (examples x dimensions), with a progress bar."""
    return model.encode(
        list(texts),
        batch_size=batch_size,
        normalize_embeddings=True,
        convert_to_numpy=True,
        show_progress_bar=True,
    ).astype(np.float32)


def sbert_alignment(
    a: np.ndarray, b: np.ndarray, bootstrap: int = 1000, seed: int = 0, level: float = 0.95
) -> Alignment:
    """Mean cosine similarity over all example pairs, with a percentile bootstrap CI.

    `std` is the bootstrap standard error; resampling runs in a canonical order so the
    result does not depend on which dataset comes first.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if swap_for_symmetry(a.tobytes(), b.tobytes()):
        a, b = b, a
    value = float(a.mean(axis=0) @ b.mean(axis=0))
    rng = np.random.default_rng(seed)
    draws = np.array(
        [
            a[rng.integers(0, len(a), len(a))].mean(axis=0)
            @ b[rng.integers(0, len(b), len(b))].mean(axis=0)
            for _ in range(bootstrap)
        ]
    )
    low, high = np.quantile(draws, [(1 - level) / 2, (1 + level) / 2])
    return Alignment(value, float(draws.std()), float(low), float(high), len(a) * len(b))
