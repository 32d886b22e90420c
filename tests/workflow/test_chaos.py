"""The chaos run (`tools/chaos.py`) on the tiny pipeline: at least 10 SIGKILLs of jobs and of
Snakemake at random moments, each other fault once, and outputs byte-identical to a clean run's."""

from __future__ import annotations

import pytest
from chaos import NOT_COMPARED, chaos_run, compared, differences, outputs, report
from helpers import evaluation_path, fixture_config, write_config


def chaos_config(fixture_data, tiny_lm_dir) -> dict:
    """The fixture pipeline with training long enough to be killed between checkpoints."""
    config = fixture_config(fixture_data, tiny_lm_dir)
    config["experiments"]["demo"]["training"].update(max_steps=150, save_steps=15)
    return config


def test_only_files_two_clean_runs_write_differently_go_uncompared():
    assert not compared("logs/finetune/words/pairs/120-0-abc.log")
    assert not compared("results/benchmarks/subset/words/pairs/120-0.tsv")
    assert not compared("results/tables/demo/costs.csv")
    assert not compared("results/tables/demo/costs.md")
    assert not compared("results/plots/demo/training_curves.pdf")
    assert compared("results/plots/demo/training_curves.png")
    assert compared("results/models/words/pairs/120-0-abc/model.safetensors")
    assert compared("results/tables/demo/correlations.csv")
    assert all(reason for reason in NOT_COMPARED.values())


def test_a_changed_missing_or_extra_file_is_a_difference(tmp_path):
    reference, run = tmp_path / "reference", tmp_path / "run"
    for folder in (reference, run):
        (folder / "results" / "models").mkdir(parents=True)
        (folder / "logs").mkdir()
        (folder / "results" / "models" / "w.safetensors").write_bytes(b"same")
        (folder / "logs" / "job.log").write_text(f"a log of {folder.name}")
    assert differences(outputs(reference), outputs(run)) == []
    (run / "results" / "models" / "w.safetensors").write_bytes(b"sam")
    (reference / "results" / "a.csv").write_text("x")
    (run / "results" / "b.csv").write_text("x")
    assert differences(outputs(reference), outputs(run)) == [
        "results/a.csv: missing",
        "results/b.csv: not in the reference run",
        "results/models/w.safetensors: differs",
    ]


@pytest.mark.slow
def test_killed_and_damaged_runs_end_byte_identical_to_a_clean_run(
    fixture_data, tiny_lm_dir, tmp_path
):
    config = chaos_config(fixture_data, tiny_lm_dir)
    configfile = write_config(config, tmp_path / "config.yaml")
    # two trained models (one per draw of a train set) and their evaluations: reading rows,
    # drawing subsets, training, evaluating
    targets = [evaluation_path(config, "demo", "pairs", seed) for seed in (0, 1)]
    args = [*targets, "--cores", "2", "--configfile", str(configfile)]  # --configfile takes 1+
    # kills come fast, so that 10 land before the 9 jobs are done; a training kill waits at most
    # 15 s for a training job past a checkpoint
    result = chaos_run(tmp_path / "chaos", args, seed=3, kills=10, delay=(0.3, 2.0), patience=15)
    print(report(result))
    assert result.ok, report(result)
    kills = [kill for kill in result.kills if kill.number]
    assert len(kills) >= 10
    assert any(kill.victim == "snakemake" for kill in kills)
    assert any(kill.victim.startswith("finetune") for kill in kills)
    resumed = [r for kill in result.kills for r in kill.resumed.values()]
    assert any("resumed at step" in r for r in resumed)
    assert all(result.faults.values())
