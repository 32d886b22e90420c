"""Fixture texts of the alignment tests (tests/unit/test_align.py and each metric's in
tests/unit/metrics/): two samples of one vocabulary and one of another, and stand-in embeddings
with known geometry."""

from __future__ import annotations

import random
from dataclasses import replace

import numpy as np
import pandas as pd
from helpers import PROSE, WORDS, sentence

from dataalign.align.compression import compressed_size


def corpus(vocabulary: list[str], seed: int, n: int = 40) -> list[str]:
    rng = random.Random(seed)
    return [sentence(rng, vocabulary, 6, 14) for _ in range(n)]


MATH_A, MATH_B, PROSE_A = corpus(WORDS, 1), corpus(WORDS, 2), corpus(PROSE, 3)


def gzip_embedding(texts):
    return pd.DataFrame({"text": texts, "size": [compressed_size(t) for t in texts]})


def sbert_like_embedding(texts, vocabulary=WORDS + PROSE):
    """Unit bag-of-words vectors: a stand-in sentence encoder with known geometry."""
    vectors = np.array([[t.split().count(w) for w in vocabulary] for t in texts], float)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def symmetric_part(result):
    """An Alignment without its train SE and df, the numbers that depend on which side is train."""
    return replace(result, train_se=0.0, train_df=0.0)
