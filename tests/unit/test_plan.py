"""The plan's one-place rules: artefact paths only in the registry, defaults only in the schema."""

from __future__ import annotations

import dataclasses
import re

import pytest
from helpers import REPO

from dataalign.align.task2vec import Task2VecOptions
from dataalign.plan import paths
from dataalign.plan.records import SubsetKey, TrainedModel
from dataalign.schemas import defaults
from dataalign.train.trainer import TrainOptions

# A quoted path under results/ or resources/ in code (docstrings name them in prose, unquoted).
PATH_LITERAL = re.compile(r"""["'](?:results|resources)/""")


def code_files() -> list:
    """The rules, the Snakefile, the scripts and the library: everything that names an artefact."""
    files = [REPO / "Snakefile", *(REPO / "workflow").rglob("*.smk")]
    files += [*(REPO / "workflow" / "scripts").glob("*.py"), *(REPO / "src").rglob("*.py")]
    return [f for f in files if f != REPO / "src" / "dataalign" / "plan" / "paths.py"]


def test_no_artefact_path_is_written_outside_the_registry():
    found = [
        f"{path.relative_to(REPO)}:{number}: {line.strip()}"
        for path in code_files()
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if PATH_LITERAL.search(line)
    ]
    assert not found, "artefact paths belong in dataalign/plan/paths.py:\n" + "\n".join(found)


def test_the_literal_check_finds_a_path_written_in_a_rule():
    assert PATH_LITERAL.search('        scores="results/eval/{evaluation}.parquet",')
    assert PATH_LITERAL.search("rows = 'resources/datasets/x.parquet'")
    assert not PATH_LITERAL.search("the run's tables (results/tables/demo/) in prose")


def test_fill_replaces_only_the_given_wildcards():
    assert paths.fill(paths.SUBSET, ds="{exp}.{strategy}") == (
        "results/subsets/{tokenizer}/{exp}.{strategy}/{budget}-{seed}.parquet"
    )
    key = SubsetKey("gpt2", "c4", 4096, 1)
    assert key.path == "results/subsets/gpt2/c4/4096-1.parquet"
    assert key.tokens == "results/subsets/gpt2/c4/4096-1.tokens.npy"
    assert key.embedding("gzip") == "results/embeddings/gzip/gpt2/c4/4096-1.parquet"


def test_a_trained_models_files_are_the_rules_patterns_filled():
    params = {"model": {"name": "m", "entry": {"hub": "m"}}, "options": {}}
    run = TrainedModel("m", SubsetKey("t", "d", 10, 0), params)
    assert run.name.startswith("m/d/10-0-") and len(run.name.rsplit("-", 1)[1]) == 10
    assert run.weights == paths.fill(paths.MODEL_WEIGHTS, run=run.name)
    assert run.weights == f"results/models/{run.name}/model.safetensors"


@pytest.mark.parametrize(
    ("options", "definition"), [(Task2VecOptions, "task2vec"), (TrainOptions, "training")]
)
def test_option_dataclasses_take_their_defaults_from_the_schema(options, definition):
    from dataalign.plan.schema import config_schema

    schema = defaults(definition, config_schema())
    fields = {f.name: f.default for f in dataclasses.fields(options) if f.name in schema}
    assert fields == {key: value for key, value in schema.items() if key in fields}
    assert len(fields) >= 10  # every option the schema defaults, not a few of them


def test_a_panel_on_a_corrupted_candidate_reads_its_rows_to_know_the_planted_answers():
    from types import SimpleNamespace

    from dataalign.plan import Plan
    from dataalign.plan.checks import validate_config
    from dataalign.plan.checks.files import read_config_file

    config = read_config_file(REPO / "config" / "local.yaml")
    validate_config(config)
    plan = Plan(config)
    planted = plan.panel_results(SimpleNamespace(exp="skill_panel_12_planted"))
    assert planted["candidate"] == paths.fill(paths.ROWS, ds="gsm8k_heldout_planted")
    assert plan.panel_results(SimpleNamespace(exp="skill_panel_12"))["candidate"] == []


def test_support_requests_pair_each_answer_with_its_own_and_another_question():
    from dataalign.plan.checks import validate_config
    from dataalign.plan.checks.files import read_config_file
    from dataalign.plan.params import dataset_requests, panel_params, support_requests

    config = read_config_file(REPO / "config" / "local.yaml")
    validate_config(config)
    support = support_requests(config, "skill_panel_12_planted")
    assert [r["dataset"] for r in support["reference"]] == ["gsm8k_test"] * 2  # the target
    assert [r.get("shift", 0) for r in support["reference"]] == [0, 1]
    assert {r["examples"] for r in support["reference"]} == {320}
    # the candidate's own-question scores are its ordinary request, scored once
    candidate = next(
        r
        for r in dataset_requests(config, "skill_panel_12_planted")
        if r["dataset"] == "gsm8k_heldout_planted"
    )
    assert support["candidate"][0] == candidate and support["candidate"][1]["shift"] == 1
    params = panel_params(config, "skill_panel_12_planted")
    assert params["support"]["reference"] == [r["request"] for r in support["reference"]]
    assert support_requests(config, "gsm8k_panel") == {}  # flag_reference: false
    assert "shift" not in candidate  # an unshifted request keeps the digest it always had


def rule_params() -> list[str]:
    """Every `params:` entry of every rule, as written (a multi-line entry joined)."""
    entries = []
    for path in (REPO / "workflow" / "rules").glob("*.smk"):
        block = None
        for line in path.read_text().splitlines():
            if re.match(r"\s{4}params:", line):
                block = []
            elif block is not None and re.match(r"\s{4}\w+:", line):
                entries += [f"{path.name}: {entry}" for entry in block]
                block = None
            elif block is not None and line.strip() and not line.strip().startswith("#"):
                if re.match(r"\s{8}\w+=", line):
                    block.append(line.strip())
                else:
                    block[-1] += " " + line.strip()
    return entries


def test_every_config_value_reaches_its_job_through_plan_params():
    """A rule hands its job a slice cut in `dataalign.plan.params` (`slices.`), or a record's
    params that the plan built with it (`PLAN.`); never a config read of its own."""
    entries = rule_params()
    assert len(entries) >= 20, entries
    bypass = [e for e in entries if "config[" in e or "lookup." in e]
    assert not bypass, "params that bypass dataalign.plan.params:\n" + "\n".join(bypass)
    assert all("slices." in e or "PLAN." in e or "paths." in e for e in entries), entries


def test_proxies_train_every_train_set_and_seed_with_only_what_they_change():
    """decide_local's proxies: a smaller model on fewer tokens, the same at a low learning rate,
    the target's own run stopped at 10% of its steps; the frontier reads each one's scores,
    records, weights and logs, and only an experiment with proxies gets a frontier."""
    from types import SimpleNamespace

    from dataalign.plan import Plan
    from dataalign.plan.checks import validate_config
    from dataalign.plan.checks.files import read_config_file
    from dataalign.plan.jobs import trained_model
    from dataalign.plan.lookup import proxy_view

    config = read_config_file(REPO / "config" / "local.yaml")
    validate_config(config)
    plan = Plan(config)
    name = "decide_local"

    def run(proxy: str | None, train: str = "c4", seed: int = 1) -> TrainedModel:
        view = proxy_view(config, name, proxy) if proxy else config
        return trained_model(view, name, train, seed)

    target = run(None)
    options = target.params["options"]
    early = run("early_10")
    assert early.subset == target.subset and early.model == target.model
    assert early.params["options"] == {**options, "stop_at": 0.1}
    small, low = run("small"), run("small_low_lr")
    assert small.model == low.model == "gpt2_bytes_small"
    assert small.subset == target.subset == low.subset  # half of each of the target's draws
    assert small.params["options"] == {**options, "max_tokens": 125000}
    assert low.params["options"] == {**options, "max_tokens": 125000, "lr": 3e-4}
    assert {r.name for r in (target, early, small, low)} <= set(plan.trainings)
    assert "stop_at" not in config["experiments"][name]["training"]  # the view is a copy
    inputs = plan.frontier_inputs(SimpleNamespace(exp=name))
    assert len(inputs["scores_early_10"]) == 17 * 2 * 3
    assert len(inputs["weights_small"]) == len(inputs["logs_small"]) == 17 * 2
    assert len(inputs["records_small"]) == 17 * 2 + 17 * 2 * 3  # train + evaluate
    assert inputs["records_gzip"][-1].startswith("results/benchmarks/align/decide_local/gzip/")
    frontiers = [t for t in plan.all_targets() if t.endswith("frontier.csv")]
    assert frontiers == [paths.fill(paths.table("frontier"), exp=name)]


def test_a_control_under_prompts_is_scored_in_the_targets_format():
    """skill_panel_12's controls: WikiText as running text by bits per byte (general quality),
    PubMedQA in GSM8K's question/answer format with the panel's score (format without skill);
    a format control's prompt naming a field it lacks is refused."""
    from dataalign.errors import ConfigError
    from dataalign.plan.checks import validate_config
    from dataalign.plan.checks.files import read_config_file
    from dataalign.plan.params import dataset_requests, score_kinds

    config = read_config_file(REPO / "config" / "local.yaml")
    validate_config(config)
    requests = {r["dataset"]: r["prompt"] for r in dataset_requests(config, "skill_panel_12")}
    assert requests["wikitext"]["question"] == "" and requests["wikitext"]["answer"] == "{text}"
    assert requests["pubmed_qa"]["question"] == "Question: {question}\nAnswer:"
    assert requests["pubmed_qa"]["shots"] == 1  # the panel's prompt defaults, as the target's
    kinds = score_kinds(config, "skill_panel_12")
    assert kinds["wikitext"] == "bits_per_byte" == kinds["pubmed_qa"] == kinds["gsm8k_test"]
    config["experiments"]["skill_panel_12"]["score"] = "loglik"
    assert score_kinds(config, "skill_panel_12")["pubmed_qa"] == "loglik"
    assert score_kinds(config, "skill_panel_12")["wikitext"] == "bits_per_byte"
    config["experiments"]["skill_panel_12"]["prompts"]["pubmed_qa"]["answer"] = " {abstract}"
    with pytest.raises(ConfigError, match=r"prompts.pubmed_qa: placeholder\(s\) \['abstract'\]"):
        validate_config(config)


def test_experiments_sharing_a_pool_train_and_evaluate_the_whole_pool_once():
    """select_proofnet and select_proofnet_small differ only in their budget: one `full` model
    per seed (on the whole pool, with no budget) and one evaluation of it, chosen from the first
    experiment's scan; every budgeted strategy keeps a model per experiment. A whole pool held
    out from another target is another choice."""
    from dataalign.plan import Plan
    from dataalign.plan.checks import validate_config
    from dataalign.plan.checks.files import read_config_file
    from dataalign.plan.jobs import trained_evaluations, trained_model
    from dataalign.plan.lookup import selection_name

    config = read_config_file(REPO / "config" / "local.yaml")
    validate_config(config)
    plan = Plan(config)
    large, small = "select_proofnet", "select_proofnet_small"
    full = selection_name(config, large, "full")
    assert re.fullmatch(r"pool-[0-9a-f]{10}\.full", full) and full in plan.choices
    assert (
        full
        == selection_name(config, small, "full")
        != selection_name(config, "select_gsm8k", "full")
    )
    for seed in config["experiments"][large]["seeds"]:
        run = trained_model(config, large, full, seed)
        assert run == trained_model(config, small, full, seed) and run.name in plan.trainings
        assert run.subset == SubsetKey("smollm2", full, paths.ALL, seed)
        random = [trained_model(config, e, f"{e}.random", seed).name for e in (large, small)]
        assert random[0] != random[1]
    evaluations = [
        {e.name for e in trained_evaluations(config, name) if e.params["labels"]["train"] == full}
        for name in (large, small)
    ]
    assert evaluations[0] == evaluations[1] and len(evaluations[0]) == 5
    wildcards = {"exp": full.split(".")[0], "strategy": "full"}  # the select job's
    assert plan.chosen(wildcards).experiment == large
    assert plan.choice_inputs(wildcards)["index"] == [
        paths.fill(paths.POOL_INDEX, exp=large, shard=0)
    ]
