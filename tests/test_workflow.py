"""The DAG (Snakemake API dry-runs) and a tiny end-to-end run on local fixture files."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

import pandas as pd
import pytest
from helpers import REPO, fixture_config, run_snakemake, write_config


def test_paper_config_dry_run_lists_expected_jobs(tmp_path):
    jobs = run_snakemake(tmp_path, REPO / "config" / "config.yaml", dryrun=True)
    subsets = {
        (j.wildcards["tokenizer"], j.wildcards["ds"], j.wildcards["budget"], j.wildcards["seed"])
        for j in jobs
        if j.rule == "subset"
    }
    downloads = {j.wildcards["ds"] for j in jobs if j.rule == "download_dataset"}
    # the paper's fine-tuning sets at ~4k GPT-2 tokens, against the AF benchmark
    for train in ("af", "af_split", "proofnet", "minif2f_lean4", "c4", "wikitext", "docstring"):
        assert ("gpt2", train, "4000", "0") in subsets
    assert ("gpt2", "af_test", "all", "0") in subsets
    # §3.4: a 1.4k-token slice of the benchmark and a 4.1k-token USPTO + PubMed mixture
    assert {("gpt2", "af_test", "1400", "0"), ("gpt2", "uspto_pubmed", "4100", "0")} <= subsets
    # App. E: four disjoint C4 draws
    assert {("gpt2", "c4", "4096", str(seed)) for seed in range(4)} <= subsets
    # pre-training counts with the tokenizer the 51M model borrows (GPT-2's)
    assert ("gpt2", "pubmed", "1310000000", "0") in subsets
    # a mixture is never downloaded itself; its parts are
    assert "uspto_pubmed" not in downloads
    assert {"uspto", "pubmed", "af", "af_test"} <= downloads
    assert len(downloads) == len({j.wildcards["ds"] for j in jobs if j.rule == "download_dataset"})


@pytest.fixture(scope="module")
def pipeline_run(fixture_data, tokenizer_dir, tmp_path_factory):
    """One real run of the tiny pipeline; tests below share its outputs."""
    workdir = tmp_path_factory.mktemp("run")
    config = fixture_config(fixture_data, tokenizer_dir)
    configfile = write_config(config, workdir / "config.yaml")
    jobs = run_snakemake(workdir, configfile)
    return workdir, config, jobs


def test_end_to_end_writes_rows_and_subsets(pipeline_run):
    workdir, _, jobs = pipeline_run
    assert sorted(j.wildcards["ds"] for j in jobs if j.rule == "download_dataset") == [
        "pairs",
        "pairs_split",
        "prose",
        "table",
    ]
    rows = pd.read_parquet(workdir / "resources/datasets/pairs.parquet")
    assert list(rows.columns) == ["row", "informal", "formal"] and len(rows) == 120
    for ds in ("pairs", "pairs_split", "prose", "mix"):
        draws = [
            pd.read_parquet(workdir / f"results/subsets/words/{ds}/120-{s}.parquet") for s in (0, 1)
        ]
        for draw in draws:
            assert list(draw.columns) == ["dataset", "row", "text", "n_tokens"]
            assert 0 < draw["n_tokens"].sum() <= 120
            assert draw["n_tokens"].tolist() == [len(t.split()) for t in draw["text"]]
        if ds != "mix":  # disjoint examples (AF-split has two per source row)
            taken = [set(zip(d["row"], d["text"], strict=True)) for d in draws]
            assert not taken[0] & taken[1]
    pair = pd.read_parquet(workdir / "results/subsets/words/pairs/120-0.parquet")
    assert pair["text"].str.match(r"informal statement .+ formal statement .+").all()
    mix = pd.read_parquet(workdir / "results/subsets/words/mix/120-0.parquet")
    assert set(mix["dataset"]) == {"pairs", "prose"}
    table = pd.read_parquet(workdir / "results/subsets/words/table/all-0.parquet")
    assert len(table) == 80
    assert (workdir / "logs/subset/words/pairs/120-0.log").read_text().count("pairs: ") == 1


def test_second_run_has_nothing_to_do(pipeline_run):
    workdir, _, _ = pipeline_run
    assert run_snakemake(workdir, workdir / "config.yaml", dryrun=True) == []


def rerun_plan(pipeline_run, tmp_path: Path, edit) -> set[tuple[str, str]]:
    workdir, config, _ = pipeline_run
    copy_dir = tmp_path / "copy"
    shutil.copytree(workdir, copy_dir, symlinks=True)
    changed = copy.deepcopy(config)
    edit(changed)
    jobs = run_snakemake(copy_dir, write_config(changed, copy_dir / "config.yaml"), dryrun=True)
    return {(j.rule, j.output[0]) for j in jobs}


def test_editing_one_budget_reruns_only_that_subset(pipeline_run, tmp_path):
    plan = rerun_plan(
        pipeline_run, tmp_path, lambda c: c["experiments"]["demo"].update(budgets={"prose": 90})
    )
    assert plan == {
        ("subset", "results/subsets/words/prose/90-0.parquet"),
        ("subset", "results/subsets/words/prose/90-1.parquet"),
    }


def test_editing_one_template_reruns_only_that_datasets_subsets(pipeline_run, tmp_path):
    plan = rerun_plan(
        pipeline_run,
        tmp_path,
        lambda c: c["datasets"]["pairs"].update(template="{informal} => {formal}"),
    )
    # the mixture draws from `pairs` with its template, so it reruns too; nothing is downloaded
    assert plan == {
        ("subset", f"results/subsets/words/{ds}/120-{seed}.parquet")
        for ds in ("pairs", "mix")
        for seed in (0, 1)
    }


def test_failed_subset_names_shortfall_and_leaves_no_output(fixture_data, tokenizer_dir, tmp_path):
    config = fixture_config(fixture_data, tokenizer_dir)
    config["experiments"]["demo"].update(train=["prose"], budget=100_000, seeds=[0])
    configfile = write_config(config, tmp_path / "config.yaml")
    with pytest.raises(Exception):  # noqa: B017 - Snakemake reports the failed job generically
        run_snakemake(
            tmp_path, configfile, targets=["results/subsets/words/prose/100000-0.parquet"]
        )
    assert not (tmp_path / "results/subsets/words/prose/100000-0.parquet").exists()
    assert not list((tmp_path / "results/subsets/words/prose").glob("*"))
    log = (tmp_path / "logs/subset/words/prose/100000-0.log").read_text()
    assert "dataset 'prose': draw 0 needs 100000 tokens but only" in log
    assert "shortfall" in log
