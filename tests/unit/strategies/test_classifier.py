"""Classifier: the target against a pool sample ranks the planted rows first (with shuffled
labels it does not); the sample, and so every score, is the same for any sharding; its seed and
size decide the sample."""

from __future__ import annotations

import numpy as np
import pytest
from planted_pool import planted_precision, planted_share, sharded_scores, with_statistic

from dataalign.errors import DatasetError
from dataalign.plugins import defaults_of
from dataalign.select import score_pool
from dataalign.select.classifier import OPTIONS, Sample, merged, sample_keys
from dataalign.select.strategies import classifier

SETTINGS = {**defaults_of(OPTIONS), "buckets": 4096, "sample": 200}  # about 200 of 350 rows
BAR = 0.9  # top-40 precision a working classifier reaches (chance: 0.12)


def scores(planted, index, folder, **options) -> np.ndarray:
    pool, target, _ = planted
    settings = with_statistic("classifier", pool, {**SETTINGS, **options}, folder)
    return score_pool("classifier", pool, index, target, settings)


def test_it_ranks_the_planted_rows_first(planted, index, tmp_path):
    precision = planted_precision(index, scores(planted, index, tmp_path))
    assert precision >= BAR > 5 * planted_share(index), precision


def test_with_shuffled_labels_it_ranks_them_no_better_than_chance(
    planted, index, tmp_path, monkeypatch
):
    """The broken variant fails the test above: its ranking comes from the labels."""
    rng = np.random.default_rng(0)

    def shuffled(counts, labels):
        return classifier_fit(counts, rng.permutation(labels))

    classifier_fit = classifier.fit
    monkeypatch.setattr(classifier, "fit", shuffled)
    precisions = [planted_precision(index, scores(planted, index, tmp_path)) for _ in range(3)]
    assert max(precisions) < BAR and np.mean(precisions) < 3 * planted_share(index), precisions


@pytest.mark.parametrize("count", [4, 20])
def test_a_sharded_pool_gets_the_whole_pools_scores(
    planted, index, tokenizer, small_batches, tmp_path, count
):
    """13 batches in 4 shards, or in 20 (some empty): every score identical to the bit."""
    pool, target, _ = planted
    whole = sharded_scores("classifier", pool, target, SETTINGS, 1, tokenizer, tmp_path)
    sharded = sharded_scores("classifier", pool, target, SETTINGS, count, tokenizer, tmp_path)
    assert np.array_equal(sharded, whole)


def test_the_seed_and_size_decide_the_sample(planted, tmp_path):
    pool, _, _ = planted

    def drawn(**options) -> Sample:
        settings = {**SETTINGS, **options}
        return with_statistic("classifier", pool, settings, tmp_path)["statistic"]

    first, again, other = drawn(), drawn(), drawn(seed=1)
    assert np.array_equal(first.keys, again.keys)
    assert len(set(first.keys) & set(other.keys)) < 0.8 * len(first)
    assert 150 < len(first) < 250 and 30 < len(drawn(sample=50)) < 70
    assert len(drawn(sample=10_000)) == 350  # every example when the sample exceeds the pool
    assert np.all(np.diff(first.keys) >= 0)  # key order, whatever the pool order


def test_another_seed_gives_other_scores(planted, index, tmp_path):
    assert not np.array_equal(
        scores(planted, index, tmp_path), scores(planted, index, tmp_path, seed=1)
    )


def test_a_text_draws_one_key_per_seed():
    keys = sample_keys(["a proof", "a proof", "a lemma"], 0)
    assert keys[0] == keys[1] != keys[2] and np.all((keys >= 0) & (keys < 1))
    assert not np.array_equal(keys, sample_keys(["a proof", "a proof", "a lemma"], 1))


def test_an_empty_sample_is_refused_in_one_line(planted, index, tmp_path):
    pool, target, _ = planted
    settings = with_statistic("classifier", pool, SETTINGS, tmp_path)
    empty = Sample(np.zeros(0), settings["statistic"].counts[:0], np.zeros((0, 0)))
    settings["statistic"] = merged([empty.packed()])
    with pytest.raises(DatasetError, match=r"^classifier: the pool sample is empty\. Fix"):
        score_pool("classifier", pool, index, target, settings)
