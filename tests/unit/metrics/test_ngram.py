"""n-gram: DSIR's features, 1 - JSD, and the excess-JSD coefficient of one distribution."""

from __future__ import annotations

import random

import numpy as np
import pytest
from alignment_texts import symmetric_part
from helpers import PROSE, WORDS, sentence


@pytest.mark.parametrize("n", [1, 2, 3])
def test_the_batched_featuriser_counts_what_dsir_counts(n, monkeypatch):
    """Across batches (its remembered ids and buckets reused) and after it forgets them, every
    example's counts equal DSIR's own `get_ngram_counts`, punctuation and Unicode included."""
    from data_selection.hashed_ngram_dsir import get_ngram_counts

    import dataalign.align.ngram as ngram

    rng = random.Random(n)
    texts = [sentence(rng, WORDS + PROSE, 0, 30) for _ in range(300)]
    texts += ["", "A dog, a log; a frog!!", "élan — naïve café, ÆØÅ 3.14 x_y", "a a a a a"]
    texts += ["theorem t (h₀ : 0 < x ∧ x² = 2)", "x₁₂³ ½ Ⅻ ٣٤ ४२"]  # digits \w may leave out
    texts += ["a\x1cb\x1d c\x1e\x1fd\te\x0bf\x0cg\rh i", "x=1;\ty\n\n-z"]  # ASCII separators
    for limit in (ngram.MEMO_LIMIT, 150):  # remembering across batches; forgetting each time
        monkeypatch.setattr(ngram, "MEMO_LIMIT", limit)
        hasher = ngram.NgramHasher(n, 97)
        for batch in (texts[:150], texts[150:], texts[:150]):
            matrix = hasher.counts(batch).toarray()
            for row, text in zip(matrix, batch, strict=True):
                np.testing.assert_array_equal(row, get_ngram_counts(text, n=n, num_buckets=97))
            np.testing.assert_array_equal(hasher.totals(batch), matrix.sum(axis=0))


def test_ngram_features_are_dsirs_and_the_coefficient_is_one_minus_jsd():
    from data_selection.hashed_ngram_dsir import get_ngram_counts
    from scipy.spatial.distance import jensenshannon

    from dataalign.align.ngram import count_matrix, js_coefficient, ngram_counts

    texts = ["The cat sat on the mat.", "A dog, a log; a frog!", ""]
    matrix = count_matrix(ngram_counts(texts, n=3, buckets=64), 64).toarray()
    for row, text in zip(matrix, texts, strict=True):
        np.testing.assert_array_equal(row, get_ngram_counts(text, n=3, num_buckets=64))
    rng = np.random.default_rng(0)
    p, q = rng.integers(0, 5, (2, 40)).astype(float)
    assert js_coefficient(p, q) == pytest.approx(1 - jensenshannon(p, q, base=2) ** 2)
    assert js_coefficient(np.array([3.0, 0]), np.array([0, 2.0])) == pytest.approx(0.0)
    assert js_coefficient(p, 2 * p) == pytest.approx(1.0)


def test_ngram_alignment_is_at_least_one_for_identical_data_and_ordered_by_shared_ngrams():
    from dataalign.align.ngram import count_matrix, ngram_alignment, ngram_counts

    def matrix(texts):
        return count_matrix(ngram_counts(texts), 10_000)

    rng = random.Random(0)
    maths = [
        "let x be a prime and n a natural number",
        "then x divides n squared",
        "the sum of two even numbers is even",
        "every prime above two is odd",
    ]
    recipes = [
        "whisk the eggs with sugar",
        "bake the cake for forty minutes",
        "serve warm with cream",
        "chop the onions finely",
    ]
    target = [" ".join(rng.choices(maths, k=3)) for _ in range(30)]
    close = [" ".join(rng.choices(maths, k=2) + rng.choices(recipes, k=1)) for _ in range(30)]
    far = [" ".join(rng.choices(recipes, k=3)) for _ in range(30)]
    same = ngram_alignment(matrix(target), matrix(target), resamples=200)
    assert same.value > 1.0 and same.ci_low <= same.value and np.isnan(same.std) and same.n == 60
    near = ngram_alignment(matrix(target), matrix(close), resamples=200)
    away = ngram_alignment(matrix(target), matrix(far), resamples=200)
    assert 1.0 > near.value > away.value
    assert near.ci_low <= near.value <= near.ci_high and near.se > 0
    swapped = ngram_alignment(matrix(close), matrix(target), resamples=200)
    forward, backward = (symmetric_part(r).as_row() for r in (near, swapped))
    assert backward == pytest.approx(forward, nan_ok=True)  # bootstrap included


def zipf_documents(rng: np.random.Generator, count: int, vocabulary: int = 3000) -> list[str]:
    """Documents of 20-120 words drawn from one Zipf-like word distribution."""
    weights = 1 / np.arange(1, vocabulary + 1)
    weights /= weights.sum()
    return [
        " ".join(f"w{k}" for k in rng.choice(vocabulary, rng.integers(20, 120), p=weights))
        for _ in range(count)
    ]


def test_ngram_coefficient_of_two_samples_of_one_distribution_is_one_within_its_ci():
    """The plug-in 1 - JSD of two such samples is ~0.75 and rises with size; the extrapolated
    excess JSD at equal counts puts 1 inside the CI, at 35 vs 35 and 35 vs 350 examples alike,
    and the CI always holds its own estimate (alternatives: test_ngram_calibration.py)."""
    from dataalign.align.ngram import count_matrix, ngram_alignment, ngram_counts

    rng = np.random.default_rng(0)
    covered, values = [], {35: [], 350: []}
    for replicate in range(12):
        for other in (35, 350):
            a, b = (
                count_matrix(ngram_counts(zipf_documents(rng, size)), 10_000)
                for size in (35, other)
            )
            result = ngram_alignment(a, b, resamples=200, seed=replicate)
            assert result.ci_low <= result.value <= result.ci_high
            covered.append(result.ci_low <= 1.0 <= result.ci_high)
            values[other].append(result.value)
    assert np.mean(covered) >= 0.85
    assert abs(np.mean(values[35]) - 1) < 0.02 and abs(np.mean(values[350]) - 1) < 0.02
