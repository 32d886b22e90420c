"""DSIR: its choice is data-selection's own resampling, and its sharded weights the package's."""

from __future__ import annotations

import json

import numpy as np
from planted_pool import (
    DSIR,
    pick,
    planted_tokens,
    with_statistic,
)

from dataalign.select import Pool, scan_pool, score_pool


def test_dsir_choice_equals_the_librarys_own_resampling(planted, tokenizer, tmp_path):
    """Same pool, target, seed and count: our DSIR choice is the one data-selection's
    `resample` writes (its weights, its length filter, its Gumbel noise)."""
    from data_selection import HashedNgramDSIR
    from data_selection.hashed_ngram_dsir import get_ngram_counts

    get_ngram_counts("compiles nltk's shared pattern, which DSIR's workers cannot unpickle")
    pool, target, _ = planted
    pool = Pool(pool.parts[:2])  # no held-out copies: the library knows nothing of them
    index = scan_pool(pool, tokenizer, set())
    scores = score_pool("dsir", pool, index, target, with_statistic("dsir", pool, DSIR, tmp_path))
    positions = pick(index, scores, "dsir", planted_tokens(index), seed=3)
    ours = sorted(pool_texts(pool)[positions])

    files = []
    for part in pool.parts:
        files.append(tmp_path / f"{part.name}.jsonl")
        files[-1].write_text("".join(json.dumps({"text": t}) + "\n" for t in part.rows["text"]))
    (tmp_path / "target.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in target))
    dsir = HashedNgramDSIR(
        [str(f) for f in files],
        [str(tmp_path / "target.jsonl")],
        str(tmp_path / "cache"),
        num_proc=1,
        ngrams=DSIR["n"],
        num_buckets=DSIR["buckets"],
        min_example_length=DSIR["min_example_length"],
    )
    dsir.fit_importance_estimator(num_tokens_to_fit="all")
    dsir.compute_importance_weights()
    np.random.seed(3)
    dsir.resample(
        str(tmp_path / "out"), num_to_sample=len(positions), cache_dir=str(tmp_path / "tmp")
    )
    theirs = sorted(
        json.loads(line)["text"]
        for path in (tmp_path / "out").glob("*.jsonl")
        for line in path.read_text().splitlines()
    )
    assert ours == theirs


def pool_texts(pool: Pool) -> np.ndarray:
    return np.array([text for batch in pool.texts() for text in batch], dtype=object)


def test_dsir_weights_equal_the_packages_own(planted, tokenizer, tmp_path):
    """The sharded DSIR's weights (pool counts summed over shards) are data-selection's
    HashedNgramDSIR weights on the whole pool, its length filter included."""
    from dataalign.select.strategies.dsir import package_weights

    pool, target, _ = planted
    index = scan_pool(pool, tokenizer, set())
    ours = score_pool("dsir", pool, index, target, with_statistic("dsir", pool, DSIR, tmp_path))
    theirs = package_weights(pool, target, DSIR, workers=1)
    assert np.isfinite(ours).sum() > 300 and np.array_equal(np.isfinite(ours), np.isfinite(theirs))
    assert np.allclose(ours[np.isfinite(ours)], theirs[np.isfinite(theirs)], rtol=1e-12, atol=1e-9)
