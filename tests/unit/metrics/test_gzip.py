"""GZIP: its coefficient's properties and the normalised compression distance it averages."""

from __future__ import annotations

import numpy as np
import pytest
from alignment_texts import MATH_A, MATH_B, PROSE_A, gzip_embedding, symmetric_part

from dataalign.align.compression import compressed_size, gzip_alignment, ncd
from dataalign.align.metrics import align_embeddings


def test_gzip_alignment_properties():
    a, b, c = gzip_embedding(MATH_A), gzip_embedding(MATH_B), gzip_embedding(PROSE_A)
    settings = {"max_pairs": 10_000, "seed": 0, "level": 9, "bootstrap": 200}
    same = align_embeddings("gzip", a, b, settings)
    other = align_embeddings("gzip", a, c, settings)
    backward = align_embeddings("gzip", c, a, settings)
    assert symmetric_part(backward) == symmetric_part(other)  # symmetric, exactly
    assert 0 <= other.value < same.value <= 1
    capped = {**settings, "max_pairs": 100}
    forward, backward = (align_embeddings("gzip", x, y, capped) for x, y in ((a, c), (c, a)))
    assert symmetric_part(forward) == symmetric_part(backward)
    assert align_embeddings("gzip", a, c, capped).n == 80  # the examples of both datasets


def test_gzip_matches_the_ncd_definition():
    x, y = MATH_A[0], PROSE_A[0]
    cx, cy = compressed_size(x), compressed_size(y)
    joined = compressed_size(x + y if x <= y else y + x)
    assert ncd(cx, cy, joined) == (joined - min(cx, cy)) / max(cx, cy)
    result = gzip_alignment([x], np.array([cx]), [y], np.array([cy]))
    assert result.value == pytest.approx(1 - (joined - min(cx, cy)) / max(cx, cy))
