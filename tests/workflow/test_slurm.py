"""The cluster path on a real single-node Slurm: profiles/slurm, requeue and resume, retries.

Needs a running local Slurm (`tests/slurm/start-local-slurm`, as root; `.ci/run` starts it).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest
from helpers import (
    REPO,
    evaluation_path,
    fixture_config,
    model_folder,
    run_snakemake,
    snakemake_command,
    write_config,
)


def slurm_is_up() -> bool:
    if shutil.which("sinfo") is None:
        return False
    state = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True)
    return state.returncode == 0 and bool(re.search(r"idle|mixed|allocated", state.stdout))


pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not slurm_is_up(), reason="no local Slurm; run tests/slurm/start-local-slurm"
    ),
]
SBATCH_RULES = ("subset", "embed", "featurize", "finetune", "pretrain", "evaluate")


def slurm_snakemake(workdir: Path, configfile: Path, *extra: str) -> subprocess.Popen:
    """`snakemake --profile profiles/slurm` as a user runs it (status polled often, for tests)."""
    command = [
        *snakemake_command(workdir, configfile, "--profile", str(REPO / "profiles" / "slurm")),
        "--slurm-status-command",
        "squeue",
        "--slurm-init-seconds-before-status-checks",
        "1",
        "--seconds-between-status-checks",
        "2",
        *extra,
    ]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


@pytest.fixture(scope="module")
def small_config(fixture_data, tiny_lm_dir):
    config = fixture_config(fixture_data, tiny_lm_dir)
    config["experiments"]["demo"].update(train=["pairs", "prose"], seeds=[0])
    return config


def test_tiny_pipeline_on_slurm_matches_a_local_run(small_config, tmp_path):
    local, cluster = tmp_path / "local", tmp_path / "slurm"
    for folder in (local, cluster):
        folder.mkdir()
        write_config(small_config, folder / "config.yaml")
    run_snakemake(local, local / "config.yaml", cores=2)
    job = slurm_snakemake(cluster, cluster / "config.yaml")
    output = job.communicate(timeout=1200)[0]
    assert job.returncode == 0, output[-3000:]

    logs = sorted((cluster / "logs").rglob("*.log"))
    for log in logs:
        rule = log.relative_to(cluster / "logs").parts[0]
        text = log.read_text()
        if rule in SBATCH_RULES:
            assert re.search(r"Slurm job \d+ on ", text), f"{log} did not run under sbatch"
        elif rule != "slurm":
            assert "local on " in text, f"{log} should be a local rule"
    assert {log.relative_to(cluster / "logs").parts[0] for log in logs} >= {"finetune", "embed"}

    for metric in ("task2vec", "gzip"):
        table = f"results/tables/demo/alignment_{metric}.csv"
        pd.testing.assert_frame_equal(pd.read_csv(cluster / table), pd.read_csv(local / table))
    for train in ("pairs", "prose", "base"):
        scores = evaluation_path(small_config, "demo", train)
        pd.testing.assert_frame_equal(
            pd.read_parquet(cluster / scores), pd.read_parquet(local / scores)
        )


def test_requeued_training_resumes_and_out_of_memory_is_retried_with_more(
    small_config, tiny_lm_dir, tmp_path
):
    """Attempt 1 asks for too little memory and fails; attempt 2 (twice the memory) is requeued
    mid-run with `scontrol requeue` and resumes from its checkpoint instead of restarting."""
    from dataalign.models import load_model_and_tokenizer
    from dataalign.train.trainer import COMPLETE, TrainOptions, training_memory_mb

    architecture = {
        "model_type": "gpt2",
        "n_layer": 4,
        "n_head": 4,
        "n_embd": 256,
        "n_positions": 128,
    }
    training = {"max_steps": 120, "save_steps": 5, "batch_size": 8, "seq_len": 128, "lr": 1e-3}
    config = dict(small_config)
    config["models"] = {
        **config["models"],
        "fresh": {"architecture": architecture, "tokenizer": "words"},
    }
    config["experiments"] = {
        "scratch": {
            "kind": "pretrain",
            "model": "fresh",
            "train": ["prose"],
            "eval": ["table"],
            "budget": 1200,
            "metrics": [],
            "training": training,
        }
    }
    configfile = write_config(config, tmp_path / "config.yaml")
    model, _ = load_model_and_tokenizer(
        {"name": "fresh", "entry": {"architecture": architecture, "tokenizer": "words"}},
        {"name": "words", "entry": {"path": str(tiny_lm_dir)}},
        device="cpu",
    )
    need = training_memory_mb(model, TrainOptions(**training))
    first = need * 2 // 3  # attempt 1 gets too little, attempt 2 (twice as much) enough

    job = slurm_snakemake(
        tmp_path, configfile, "--set-resources", f"pretrain:mem_mb={first}*attempt"
    )
    checkpoints = tmp_path / "results" / "checkpoints"

    def last_saved_step() -> int:  # older checkpoints are deleted as newer ones are saved
        saved = checkpoints.glob(f"**/checkpoint-*/{COMPLETE}")
        return max((int(p.parent.name.rsplit("-", 1)[1]) for p in saved), default=0)

    deadline = time.time() + 600
    while last_saved_step() < 10 and time.time() < deadline:
        time.sleep(0.2)
    running = subprocess.run(
        ["squeue", "-h", "-t", "R", "-o", "%i"], capture_output=True, text=True
    )
    job_id = running.stdout.split()[0]
    subprocess.run(["scontrol", "requeue", job_id], check=True)
    # once requeued (pending again), Slurm holds the job back ~2 minutes: let it start at once
    squeue = ["squeue", "-h", "-j", job_id, "-o", "%t"]
    deadline, stopped = time.time() + 120, False
    while (state := subprocess.run(squeue, capture_output=True, text=True).stdout.strip()) != "PD":
        if state == "R" and stopped:  # a Slurm that does not hold it: already running again
            break
        stopped = stopped or state != "R"
        assert time.time() < deadline, f"requeued Slurm job {job_id} never became pending"
        time.sleep(0.2)
    else:
        subprocess.run(["scontrol", "update", f"JobId={job_id}", "StartTime=now"], check=True)
    output = job.communicate(timeout=1200)[0]
    assert job.returncode == 0, output[-3000:]

    folder = model_folder(config, "scratch", "prose", 0)
    log_path = f"logs/pretrain/{folder.removeprefix('results/models/')}.log"
    assert "Error in rule pretrain" in output and log_path in output
    failed = "\n".join(p.read_text() for p in (tmp_path / "logs" / "slurm").rglob("*.log"))
    assert f"training needs at least {need} MB but the job has mem_mb={first}" in failed
    log = (tmp_path / log_path).read_text()
    assert f"Slurm job {job_id} on " in log
    assert f"the job has {2 * first} MB" in log
    resumed = re.search(r"resuming from checkpoint .*\(step (\d+)\)", log)
    assert resumed and int(resumed.group(1)) >= 10, log
    history = pd.read_parquet(tmp_path / folder / "train_log.parquet")
    assert history["step"].max() == 120
    assert (tmp_path / evaluation_path(config, "scratch", "prose")).is_file()


def test_a_sharded_selection_on_slurm_chooses_the_rows_of_one_local_job(
    fixture_data, tiny_lm_dir, tmp_path
):
    """The pool in 2 shards, one sbatch job per (strategy, shard) and per shard's scan and
    statistic: every seed's choice is the rows one unsharded local run chooses."""
    from test_select_workflow import select_config

    config = select_config(fixture_data, tiny_lm_dir)
    experiment = config["experiments"]["choose"]
    choices = [
        f"results/subsets/words/choose.{strategy}/{experiment['budget']}-{seed}.choice.json"
        for strategy in experiment["strategies"]
        for seed in experiment["seeds"]
    ]
    local, cluster = tmp_path / "local", tmp_path / "slurm"
    for folder, shards in ((local, 1), (cluster, 2)):
        folder.mkdir()
        experiment["shards"] = shards
        write_config(config, folder / "config.yaml")
    run_snakemake(local, local / "config.yaml", targets=choices, cores=2)
    job = slurm_snakemake(cluster, cluster / "config.yaml", *choices)
    output = job.communicate(timeout=1200)[0]
    assert job.returncode == 0, output[-3000:]
    for rule, count in (("scan_pool", 2), ("pool_statistic", 2), ("score_pool", 8)):
        logs = list((cluster / "logs" / rule).rglob("*.log"))
        assert len(logs) == count, rule
        assert all(re.search(r"Slurm job \d+ on ", log.read_text()) for log in logs), rule
    for choice in choices:
        digests = [json.loads((f / choice).read_text())["rows_digest"] for f in (local, cluster)]
        assert digests[0] == digests[1], choice
