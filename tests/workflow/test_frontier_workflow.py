"""A proxy end to end on the fixture pipeline: it trains on every train set and seed, its ranking
is scored against the experiment's models beside an alignment metric, its cost is read from the
jobs' benchmark records; the unigram baseline sits beside the trained models' CE."""

from __future__ import annotations

import math
from collections import Counter
from types import SimpleNamespace

import pandas as pd
import pytest
from helpers import REPO, fixture_config, run_snakemake, validated, write_config

from dataalign.analysis.costs import read_benchmark
from dataalign.plan import Plan

FRONTIER = "results/tables/demo/frontier.csv"
UNIGRAM = "results/tables/demo/unigram.csv"


@pytest.fixture(scope="module")
def frontier_run(fixture_data, tiny_lm_dir, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("frontier")
    config = fixture_config(fixture_data, tiny_lm_dir)
    config["experiments"]["demo"].update(
        train=["pairs", "prose", "mix"],
        metrics=["gzip"],
        proxies={"early": {"checkpoint": 0.5}},
    )
    jobs = run_snakemake(
        workdir, write_config(config, workdir / "config.yaml"), [FRONTIER, UNIGRAM]
    )
    inputs = Plan(validated(config)).frontier_inputs(SimpleNamespace(exp="demo"))
    return workdir, jobs, inputs


def summed_wall(workdir, records: list[str]) -> float:
    return sum(read_benchmark(str(workdir / path))["wall_s"] for path in records)


@pytest.mark.slow
def test_a_proxy_trains_every_train_set_and_seed_for_its_share_of_the_steps(frontier_run):
    workdir, jobs, _ = frontier_run
    trained = [j for j in jobs if j.rule == "finetune"]
    assert len(trained) == 2 * 3 * 2  # the experiment's models and the proxy's
    steps = sorted(
        pd.read_parquet(workdir / j.output[2])["step"].max()
        for j in trained  # train_log
    )
    assert steps == [2] * 6 + [3] * 6  # max_steps 3; the proxy stops at ceil(0.5 x 3)


@pytest.mark.slow
def test_the_frontier_scores_the_proxy_and_the_metric_and_reads_their_costs(frontier_run):
    workdir, _, inputs = frontier_run
    table = pd.read_csv(workdir / FRONTIER)
    assert set(table["eval"]) == {"table", "pooled"}
    assert set(table["predictor"]) == {"early", "gzip", "ceiling", "noise_free"}
    row = table[(table["predictor"] == "early") & (table["eval"] == "table")].iloc[0]
    assert row["decision_pairs"] == 3  # pairs, prose, mix: 3 train sets
    assert 0 <= row["decision_accuracy"] <= 1 and row["kind"] == "proxy"
    assert len(inputs["records_early"]) == 6 + 6  # its trainings and evaluations
    assert row["wall_s"] == pytest.approx(summed_wall(workdir, inputs["records_early"]))
    target = table[table["predictor"] == "ceiling"].iloc[0]  # the target's own run and cost
    assert target["wall_s"] == pytest.approx(summed_wall(workdir, inputs["records_target"]))
    assert row["cost_share"] == pytest.approx(row["cpu_s"] / target["cpu_s"])
    assert row["flops_share"] == pytest.approx(2 / 3)  # 2 of 3 steps of the same model
    gzip = table[(table["predictor"] == "gzip") & (table["eval"] == "table")].iloc[0]
    assert gzip["wall_s"] == pytest.approx(summed_wall(workdir, inputs["records_gzip"]))
    assert math.isnan(gzip["flops"])
    assert (workdir / "results/plots/demo/frontier.png").stat().st_size > 10_000


@pytest.mark.slow
def test_the_unigram_baseline_sits_beside_every_trained_models_ce(frontier_run):
    workdir, _, _ = frontier_run
    table = pd.read_csv(workdir / UNIGRAM)
    assert len(table) == 3 * 2  # train sets x seeds x the one benchmark
    assert table["unigram_ce"].between(0.5, 20).all() and table["ce"].notna().all()
    assert (table["margin"] == table["unigram_ce"] - table["ce"]).all()


def test_the_gpu_study_plans_every_proxy_run_on_real_hub_data(tmp_path):
    """config.yaml's decide: a 124M GPT-2 pre-trained on 12 Hub corpora x 2 seeds, four proxies
    (a 51M model on a quarter of the tokens, the same at a tenth of the learning rate, the
    target's run at 10% and 25% of its steps), every run scored on three benchmarks."""
    jobs = run_snakemake(
        tmp_path,
        REPO / "config" / "config.yaml",
        ["results/tables/decide/frontier.csv"],
        dryrun=True,
    )
    counts = Counter(job.rule for job in jobs)
    assert counts["pretrain"] == 12 * 2 * (1 + 4)
    assert counts["evaluate"] == 3 * counts["pretrain"]
    assert counts["frontier"] == 1 and counts["align"] == 4 * 12 * 3
    models = {job.wildcards["run"].split("/")[0] for job in jobs if job.rule == "pretrain"}
    assert models == {"gpt2_124m", "gpt2_51m"}
