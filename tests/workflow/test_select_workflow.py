"""Selection experiments in the DAG and end to end: one scoring job per strategy and pool shard,
one choice per seed written as an ordinary subset that trains, evaluates and aligns like any
train set."""

from __future__ import annotations

import copy
import json

import pandas as pd
import pytest
from helpers import fixture_config, run_snakemake, validated, write_config

from dataalign.errors import ConfigError
from dataalign.plan.jobs import panel_scorings
from dataalign.plan.params import pool_requests

STRATEGIES = {
    "random": {},
    "gzip": {},
    "gzip_t": {"method": "gzip", "temperature": 0.5},
    "dsir": {"min_example_length": 2, "buckets": 1024},
}


def select_config(fixture_data, tiny_lm_dir) -> dict:
    """The fixture config with a selection experiment: the pool holds all of `pairs` (its first
    40 rows are the target, its last 40 the benchmark) and prose; the middle rows are the
    planted aligned fraction."""
    config = fixture_config(fixture_data, tiny_lm_dir)
    pairs = config["datasets"]["pairs"]
    config["datasets"] |= {
        "target": {**pairs, "max_rows": 40},
        "heldout": {**pairs, "skip_rows": 80},
    }
    config["experiments"] = {
        "choose": {
            "kind": "select",
            "model": "words",
            "pool": ["pairs", "prose"],
            "target": "target",
            "eval": ["heldout"],
            "budget": 300,
            "seeds": [0, 1],
            "strategies": copy.deepcopy(STRATEGIES),
            "metrics": ["gzip", "ngram"],
            "training": {"max_steps": 2, "batch_size": 4, "seq_len": 32, "lr": 1e-3},
        }
    }
    return config


@pytest.mark.parametrize("shards", [1, 3])
def test_selection_dag_scores_each_shard_once_per_strategy_and_trains_each_choice(
    fixture_data, tiny_lm_dir, tmp_path, shards
):
    config = select_config(fixture_data, tiny_lm_dir)
    config["experiments"]["choose"]["shards"] = shards
    jobs = run_snakemake(tmp_path, write_config(config, tmp_path / "c.yaml"), dryrun=True)
    counts = pd.Series([j.rule for j in jobs]).value_counts()
    assert counts["scan_pool"] == shards and counts["pool_statistic"] == shards  # dsir's counts
    scored = {
        (j.wildcards["strategy"], j.wildcards["shard"]) for j in jobs if j.rule == "score_pool"
    }
    assert scored == {(s, str(k)) for s in STRATEGIES for k in range(shards)}
    assert counts["score_pool"] == 4 * shards and counts["select"] == 8
    assert counts["finetune"] == 8 and counts["evaluate"] == 9  # + the untrained model
    assert counts["selection_table"] == 1 and "subset" in counts  # the benchmark's eval subset
    chosen = {j.wildcards["strategy"] for j in jobs if j.rule == "select"}
    assert chosen == set(STRATEGIES)


def test_perplexity_correlations_adds_pool_requests_to_each_members_scoring(
    fixture_data, tiny_lm_dir, tmp_path
):
    config = select_config(fixture_data, tiny_lm_dir)
    config["models"] |= {name: {"path": str(tiny_lm_dir)} for name in ("w2", "w3")}
    config["experiments"]["choose"]["strategies"] = {
        "perplexity_correlations": {"models": ["words", "w2", "w3"]}
    }
    scorings = panel_scorings(validated(config))
    requests = pool_requests(validated(config), "choose")
    assert set(scorings) == {"words", "w2", "w3"}
    assert [r["dataset"] for r in requests] == ["pairs", "prose", "target"]
    assert all(r["examples"] is None and r["prompt"]["shots"] == 0 for r in requests)
    jobs = run_snakemake(tmp_path, write_config(config, tmp_path / "c.yaml"), dryrun=True)
    counts = pd.Series([j.rule for j in jobs]).value_counts()
    assert counts["score_panel"] == 3 and counts["score_pool"] == 1


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda e: e.update(target="heldout"), "also a benchmark"),
        (lambda e: e["strategies"].update(bad={}), "no method 'bad'"),
        (lambda e: e["strategies"].update(r={"method": "random", "temperature": 1}), "temperature"),
        (
            lambda e: e["strategies"].update(perplexity_correlations={"models": ["words"]}),
            "at least 3",
        ),
        (
            lambda e: e["strategies"].update(gzip_fast={"method": "gzip", "level": 0}),
            r"config key experiments.choose.strategies.gzip_fast.level: 0 is less than the "
            r"minimum of 1. Fix: use a value of at least 1",
        ),
    ],
)
def test_bad_selection_configs_are_refused_with_the_key(fixture_data, tiny_lm_dir, edit, message):
    config = select_config(fixture_data, tiny_lm_dir)
    edit(config["experiments"]["choose"])
    with pytest.raises(ConfigError, match=message):
        validated(config)


@pytest.fixture(scope="module")
def selection_run(fixture_data, tiny_lm_dir, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("select")
    config = select_config(fixture_data, tiny_lm_dir)
    config["experiments"]["choose"]["shards"] = 2
    run_snakemake(workdir, write_config(config, workdir / "config.yaml"))
    return workdir


@pytest.mark.slow
def test_choices_respect_the_budget_and_never_hold_target_or_benchmark_rows(selection_run):
    subsets = sorted(selection_run.glob("results/subsets/words/choose.*/300-*.parquet"))
    assert len(subsets) == 8
    for path in subsets:
        subset = pd.read_parquet(path)
        assert 0 < subset["n_tokens"].sum() <= 300
        rows = subset.loc[subset["dataset"] == "pairs", "row"]
        assert rows.between(40, 79).all(), path  # rows 0-39: target, 80-119: benchmark
        report = json.loads(path.with_name(path.stem + ".choice.json").read_text())
        assert report["tokens"] == subset["n_tokens"].sum()
    gzip = pd.read_parquet(selection_run / "results/subsets/words/choose.gzip/300-0.parquet")
    assert (gzip["dataset"] == "pairs").mean() > 0.9  # the planted rows, not prose


@pytest.mark.slow
def test_selection_table_has_every_strategy_with_intervals_and_alignment(selection_run):
    csv = selection_run / "results/tables/choose/selection.csv"
    table = pd.read_csv(csv)
    # the copy selection_study reads holds the same table, to the last digit
    copy = pd.read_parquet(csv.with_suffix(".parquet"))
    assert copy.to_csv(index=False) == csv.read_text()
    assert set(STRATEGIES) | {"base (untrained)"} == set(table["strategy"])
    trained = table[table["strategy"] != "base (untrained)"].set_index("strategy")
    assert (trained["seeds"] == 2).all() and trained["ppl_ci_low"].notna().all()
    assert {"alignment_gzip", "alignment_ngram"} <= set(table.columns)
    assert trained.loc["gzip", "alignment_ngram"] > trained.loc["random", "alignment_ngram"]
    assert trained.loc["gzip", "distinct_choices"] == 1  # a ranking: the same rows every seed
    assert trained.loc["random", "distinct_choices"] == 2
    assert trained["ce_vs_random_p_holm"].notna().sum() == 3
    assert (trained["ppl_ci_low"] > 0).all()  # exp of the cross-entropy interval
    assert (selection_run / "results/plots/choose/selection.png").stat().st_size > 0


def test_a_budget_larger_than_the_pool_stops_the_parse(fixture_data, tiny_lm_dir):
    """Found before any job, not after scoring the pool."""
    from dataalign.errors import ConfigError
    from dataalign.plan.checks import validate_config

    config = select_config(fixture_data, tiny_lm_dir)
    config["experiments"]["choose"].update(pool=["prose"], budget=10**9)
    with pytest.raises(
        ConfigError,
        match=r"config key experiments.choose.budget: 1000000000 "
        r"tokens to choose, but the pool's files hold [\d,]+ bytes",
    ):
        validate_config(config)


def test_a_budget_larger_than_a_pool_of_pairs_stops_the_parse(fixture_data, tiny_lm_dir):
    """A `pair` part is bounded by its bytes plus its template's text on every line, so a pool
    of pairs too small is refused at parse time too, not after four jobs."""
    from dataalign.errors import ConfigError
    from dataalign.plan.checks import validate_config

    config = select_config(fixture_data, tiny_lm_dir)
    pairs = fixture_data["pairs"]
    lines = pairs.read_bytes().count(b"\n") + 1
    literal = len("informal statement  formal statement ")
    bound = pairs.stat().st_size + lines * literal + fixture_data["prose"].stat().st_size
    config["experiments"]["choose"]["budget"] = bound
    validate_config(copy.deepcopy(config))
    config["experiments"]["choose"]["budget"] = bound + 1
    with pytest.raises(
        ConfigError,
        match=rf"config key experiments.choose.budget: {bound + 1} tokens to choose, but the "
        rf"pool's files hold {bound:,} bytes",
    ):
        validate_config(config)
