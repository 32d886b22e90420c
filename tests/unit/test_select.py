"""Selection on a synthetic pool with a planted aligned fraction (`planted_pool`): what every
strategy shares (recovering the planted rows, sharded scoring, the streamed choice, the written
subset) and the selection tables. Each strategy's own tests: tests/unit/strategies/."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from planted_pool import (
    DSIR,
    NAMES,
    dataset,
    pick,
    planted_tokens,
    recovered,
    scored,
    with_statistic,
    write_panel_scores,
)

from dataalign.analysis.multiple_testing import adjusted
from dataalign.data.subsets import Part, write_draws
from dataalign.errors import DatasetError
from dataalign.select import (
    Pool,
    ScoredShard,
    choose,
    chosen_draws,
    composition,
    held_out_keys,
    scan_pool,
    score_pool,
)
from dataalign.select.strategies import strategy

# (method, settings, temperature) of the strategies that score alignment with the target;
# "probe": a model strategy's settings with the tiny probe (`probe_settings`).
ALIGNED = [
    ("dsir", DSIR, None),
    ("gzip", {"level": 9}, None),
    ("gzip", {"level": 9}, 0.3),
    ("ngram", {"n": 2, "buckets": 10_000}, None),
    ("ngram", {"n": 2, "buckets": 10_000}, 0.3),
    ("classifier", {"n": 2, "buckets": 4096, "sample": 200, "seed": 0}, None),
    ("task2vec", "probe", None),
]


def probe_settings(method: str, tiny_lm_dir: Path) -> dict:
    """Task2Vec's or the gradient strategy's settings with the tiny model as the probe."""
    probe = {"name": "tiny", "entry": {"path": str(tiny_lm_dir)}}
    if method == "gradient":
        sketch = {"layers": 2, "dimension": 1024, "batch_size": 16, "seed": 0}
        return {"probe": probe, "seq_len": 16, **sketch}
    options = {"mode": "corrected", "seq_len": 16, "epochs": 0, "batches": 2}
    return {"probe": probe, "options": options, "chunk": 8}


@pytest.mark.parametrize(
    ("method", "settings", "temperature"), [*ALIGNED, ("gradient", "probe", None)]
)
def test_alignment_strategies_recover_the_planted_rows_within_budget(
    planted, index, method, settings, temperature, tiny_lm_dir, tmp_path
):
    pool, target, _ = planted
    if settings == "probe":
        settings = probe_settings(method, tiny_lm_dir)
    scores = score_pool(
        method, pool, index, target, with_statistic(method, pool, settings, tmp_path)
    )
    budget = planted_tokens(index)
    for seed in (0, 1):
        positions = pick(index, scores, method, budget, seed, temperature)
        chosen = index.iloc[positions]
        assert budget - chosen["n_tokens"].max() < chosen["n_tokens"].sum() <= budget
        assert not chosen["excluded"].any() and "leaks" not in set(dataset(chosen))
        assert recovered(index, positions) >= 0.75, (method, seed)


def test_a_target_sharing_a_benchmark_example_is_refused():
    with pytest.raises(DatasetError, match="shares 1 example"):
        held_out_keys("valid", ["A  proof.", "x"], {"test": ["a proof.", "y"]})


def test_a_budget_beyond_the_eligible_pool_is_refused(index):
    with pytest.raises(DatasetError, match="fewer than the budget"):
        pick(index, np.zeros(len(index)), "random", int(index["n_tokens"].sum()), 0)


def test_a_choice_is_written_as_an_ordinary_subset(planted, index, tokenizer, tmp_path):
    pool, _, _ = planted
    chosen = choose(scored(index, np.zeros(len(index))), "random", 200, 0)
    draws = chosen_draws(pool, chosen.part_sizes, chosen.positions, chosen.n_tokens)
    write_draws(draws, tokenizer, tmp_path / "s.parquet", tmp_path / "s.npy")
    subset = pd.read_parquet(tmp_path / "s.parquet")
    expected = index.iloc[chosen.positions].assign(dataset=dataset(index)[chosen.positions])
    assert (
        subset[["dataset", "row", "n_tokens"]].values.tolist()
        == expected[["dataset", "row", "n_tokens"]].values.tolist()
    )
    assert len(np.load(tmp_path / "s.npy")) == subset["n_tokens"].sum() + len(subset)
    shares = composition(NAMES, chosen.part, chosen.n_tokens)
    assert sum(shares.values()) == pytest.approx(1, abs=1e-3)


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


def test_the_selection_jobs_scan_score_and_write_a_choice_within_budget(
    planted, tmp_path, tokenizer_dir
):
    """select.steps as the scan_pool, pool_statistic, score_pool and select jobs run them, on two
    shards: rows files in, a subset out, the same as from one shard."""
    from dataalign.io import write_parquet
    from dataalign.select.steps import (
        ShardFiles,
        choose_subset,
        scan_shard,
        score_shard,
        shard_statistic,
    )

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
    common = {"pool": {p.name: spec for p in pool.parts}, "target": {"target": {"target": spec}}}
    scan = {**common, "benchmarks": {"bench": {"bench": spec}}, "tokenizer": tokenizer}
    choice = {
        "method": "ngram",
        "temperature": None,
        "pool": common["pool"],
        "tokenizer": tokenizer,
    }
    reports = []
    for shards in (1, 2):
        files = ShardFiles(
            [str(tmp_path / f"{shards}-index-{k}.parquet") for k in range(shards)],
            [str(tmp_path / f"{shards}-scores-{k}.parquet") for k in range(shards)],
        )
        score = {"method": "ngram", "settings": {"n": 2, "buckets": 4096}, **common}
        score["shards"] = scan["shards"] = shards
        features = [str(tmp_path / f"{shards}-features-{k}.bin") for k in range(shards)]
        statistics = [
            shard_statistic({**score, "shard": k}, rows, features[k]) for k in range(shards)
        ]
        excluded = 0
        for k in range(shards):
            index, report = scan_shard({**scan, "shard": k}, rows)
            excluded += report["excluded"]
            shard = {**score, "shard": k}
            scores, _ = score_shard(shard, index, rows, statistics, features[k], panel={})
            write_parquet(index, files.indexes[k])
            write_parquet(pd.DataFrame({"score": scores}), files.scores[k])
        assert excluded == 10
        subset, tokens = tmp_path / f"{shards}.parquet", tmp_path / f"{shards}.tokens.npy"
        reports.append(choose_subset(choice, files, rows, 300, 0, str(subset), str(tokens)))
        chosen = pd.read_parquet(subset)
        assert (
            0 < reports[-1]["tokens"] <= 300 and chosen["n_tokens"].sum() == reports[-1]["tokens"]
        )
        assert (
            len(chosen) == reports[-1]["examples"] and reports[-1]["composition"]["planted"] > 0.5
        )
        assert not set(chosen["text"]) & {*target, *benchmark} and tokens.exists()
    assert reports[0]["rows_digest"] == reports[1]["rows_digest"]


def test_a_study_reads_several_targets_with_holm_over_all_of_them(tmp_path):
    """Two targets, strategies paired by seed against random, DSIR, betr and the whole pool:
    Holm runs over strategies x targets, each strategy's verdicts are counted as wins, and the
    figure draws every target. Each table is read back from the Parquet copy selection_study
    reads."""
    from dataalign.io import read_parquet, write_table
    from dataalign.select.plots import plot_selection_study
    from dataalign.select.summary import selection_table, study_table, study_wins

    rng = np.random.default_rng(0)
    strategies = ["random", "full", "dsir", "betr", "gzip"]
    tables = {}
    for target, gzip_gain in (("proofs", -0.5), ("math", 0.0)):
        noise = rng.normal(0, 0.05, 5)  # a seed's training noise, shared by every strategy
        level = {"random": 7.0, "full": 6.9, "dsir": 6.8, "betr": 7.3, "gzip": 6.8 + gzip_gain}
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
        table = selection_table(pd.DataFrame(rows), alignments, choices, costs, strategies)
        files = [tmp_path / f"{target}.{suffix}" for suffix in ("csv", "md", "tex", "parquet")]
        write_table(table, *files)
        tables[target] = read_parquet(files[-1])  # as selection_study reads it
        pd.testing.assert_frame_equal(tables[target], table)
    study = study_table(tables).set_index(["experiment", "strategy"])
    family = study["ce_vs_dsir_paired_p"].dropna()
    assert len(family) == 8  # random, full, betr, gzip x 2 targets
    assert study["ce_vs_dsir_paired_p_holm"].dropna().tolist() == pytest.approx(
        adjusted(family).tolist()
    )
    assert study.loc[("proofs", "gzip"), "vs_dsir"] == "better"
    assert study.loc[("math", "gzip"), "vs_dsir"] == "tie"
    assert study.loc[("proofs", "random"), "vs_dsir"] == "worse"
    wins = study_wins(study.reset_index())
    assert wins.loc["gzip", ("dsir", "better")] == 1 and wins.loc["gzip", ("dsir", "tie")] == 1
    assert wins.loc["gzip", ("full", "better")] >= 1
    assert wins.loc["gzip", ("betr", "better")] == 2 and wins.loc["dsir", ("betr", "better")] == 2
    figure = tmp_path / "study.png"
    plot_selection_study(study.reset_index(), [figure])
    assert figure.stat().st_size > 0


def test_a_study_verdict_needs_its_holm_p_below_five_percent():
    """Four strategies each beat DSIR with an unadjusted paired p of .01-.04 (intervals
    excluding 0): after Holm over the five comparisons none is below .05, so all tie."""
    from dataalign.select.summary import study_table, study_wins

    p = [0.01, 0.02, 0.03, 0.04, 0.5]
    table = pd.DataFrame(
        {
            "strategy": ["a", "b", "c", "d", "e"],
            "eval": "bench",
            "ce": 6.0,
            "ce_ci_low": 5.9,
            "ce_ci_high": 6.1,
            "ce_vs_dsir": [-0.2, -0.2, -0.2, -0.2, 0.1],
            "ce_vs_dsir_paired_ci_low": [-0.3, -0.3, -0.3, -0.3, -0.1],
            "ce_vs_dsir_paired_ci_high": [-0.1, -0.1, -0.1, -0.05, 0.3],
            "ce_vs_dsir_paired_p": p,
        }
    )
    study = study_table({"target": table})
    assert study["vs_dsir"].tolist() == ["tie"] * 5
    assert study_wins(study).loc["a", ("dsir", "tie")] == 1
    table["ce_vs_dsir_paired_p"] = [0.001, 0.02, 0.03, 0.04, 0.5]
    assert study_table({"target": table})["vs_dsir"].tolist()[:2] == ["better", "tie"]


def parquet_pool(pool: Pool, folder: Path) -> Pool:
    """The pool with each part as a Parquet file in row groups of 50 rows (not a multiple of a
    batch, so shard ranges start inside row groups)."""
    parts = []
    for part in pool.parts:
        path = folder / f"{part.name}.parquet"
        part.rows.to_parquet(path, row_group_size=50)
        parts.append(Part(part.name, str(path), ["text"]))
    return Pool(tuple(parts))


@pytest.mark.parametrize(
    ("method", "settings", "temperature"),
    [
        ("random", {}, None),
        ("full", {}, None),
        *ALIGNED,
        ("perplexity_correlations", "panel", None),
    ],
)
def test_sharded_scoring_chooses_exactly_the_whole_pools_rows(
    planted, index, tokenizer, tiny_lm_dir, small_batches, tmp_path, method, settings, temperature
):
    """Scan, statistic and scores per shard, then one streamed choice: the same rows as the
    pool scored as one shard, for 4 shards and for 20 (more shards than batches: some empty)."""
    pool, target, benchmark = planted
    pool = parquet_pool(pool, tmp_path)
    if settings == "probe":
        settings = probe_settings(method, tiny_lm_dir)
    elif settings == "panel":
        paths = write_panel_scores(tmp_path, index, len(target), np.random.default_rng(0))
        requests = {name: f"r-{name}" for name in [*NAMES, "target"]}
        settings = {"scores": paths, "requests": requests, "target": "target"}
        settings["estimator"] = "spearmanr"
    held_out = held_out_keys("target", target, {"bench": benchmark})
    budget = planted_tokens(index)
    choices = {}
    for count in (1, 4, 20):
        shards = [pool.shard(k, count) for k in range(count)]
        indexes = [scan_pool(shard, tokenizer, held_out) for shard in shards]
        chosen, features = strategy(method), []
        if chosen.statistic:
            features = [str(tmp_path / f"features-{count}-{k}.bin") for k in range(count)]
            pairs = zip(shards, features, strict=True)
            total = chosen.combine([chosen.statistic(s, settings, f) for s, f in pairs])
        scored_shards = []
        for k, (shard, i) in enumerate(zip(shards, indexes, strict=True)):
            mine = (
                {**settings, "statistic": total, "features": features[k]} if features else settings
            )
            scores = score_pool(method, shard, i, target, mine)
            columns = (i[c].to_numpy() for c in ("part", "n_tokens", "excluded"))
            scored_shards.append(ScoredShard(*columns, scores))
        whole = pd.concat(indexes, ignore_index=True)
        assert whole.equals(index), count  # the shards' scans are the whole pool's, in order
        choices[count] = [
            choose(scored_shards, method, budget, seed, temperature).positions for seed in (0, 1)
        ]
    assert sum(len(i) == 0 for i in indexes) > 0  # 20 shards of 13 batches: some are empty
    for count in (4, 20):
        for seed in (0, 1):
            assert np.array_equal(choices[count][seed], choices[1][seed]), (count, seed)


def test_a_row_range_reads_the_batches_the_whole_file_gives_for_it(tmp_path):
    from dataalign.io import parquet_batches

    path = tmp_path / "rows.parquet"
    pd.DataFrame({"row": range(1000)}).to_parquet(path, row_group_size=70)
    whole = [b.column("row").to_pylist() for b in parquet_batches(path, 64)]
    assert all(len(b) == 64 for b in whole[:-1]) and [r for b in whole for r in b] == list(
        range(1000)
    )
    for start, stop in [(0, 1000), (128, 448), (640, 2000), (960, 1000), (64, 65)]:
        ranged = [b.column("row").to_pylist() for b in parquet_batches(path, 64, None, start, stop)]
        expected = [b for b in whole if b[0] >= start and b[0] < stop]
        expected[-1] = [r for r in expected[-1] if r < stop]
        assert ranged == expected, (start, stop)


def test_a_streamed_choice_stops_where_the_whole_pools_does():
    """The greedy choice stops at the first example that overflows the budget, even when a
    later shard holds a smaller one that would fit: the example that stopped a shard's choice
    is kept in the running, so the next shard cannot slip past it."""

    def shard(scores, n_tokens):
        n = len(scores)
        return ScoredShard(np.zeros(n, np.uint16), np.array(n_tokens), np.zeros(n, bool), scores)

    first, second = shard(np.array([3.0, 2.0]), [5, 5]), shard(np.array([1.0]), [3])
    whole = shard(np.array([3.0, 2.0, 1.0]), [5, 5, 3])
    assert choose([whole], "gzip", 8, 0).positions.tolist() == [0]
    assert choose([first, second], "gzip", 8, 0).positions.tolist() == [0]
