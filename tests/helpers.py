"""Shared test helpers: fixture corpora, a word-level tokenizer, and Snakemake API runs."""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
WORDS = (
    "theorem lemma proof integer prime divides sum natural number real function continuous "
    "bounded set group ring field the a of and is for every there exists such that"
).split()
PROSE = (
    "river mountain village story morning market bread music garden window letter road "
    "summer winter friend house city old new walked saw with under over"
).split()


def sentence(rng: random.Random, vocabulary: list[str], low: int, high: int) -> str:
    """A sentence of `low`..`high` words: its word-level token count is its word count."""
    return " ".join(rng.choice(vocabulary) for _ in range(rng.randint(low, high)))


def write_fixture_data(folder: Path, seed: int = 0) -> dict[str, Path]:
    """Small local files in every supported format (jsonl pairs, txt prose, csv, gz json)."""
    import gzip
    import json

    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    pairs = folder / "pairs.jsonl"
    pairs.write_text(
        "\n".join(
            json.dumps(
                {"informal": sentence(rng, WORDS, 3, 8), "formal": sentence(rng, WORDS, 4, 10)}
            )
            for _ in range(120)
        )
    )
    prose = folder / "prose.txt"
    prose.write_text("\n\n".join(sentence(rng, PROSE, 5, 15) for _ in range(150)) + "\n")
    table = folder / "table.csv"
    table.write_text(
        "id,text\n" + "".join(f"{i},{sentence(rng, PROSE + WORDS, 4, 9)}\n" for i in range(80))
    )
    records = folder / "records.json.gz"
    records.write_bytes(
        gzip.compress(
            json.dumps([{"text": sentence(rng, WORDS, 3, 6)} for _ in range(30)]).encode()
        )
    )
    return {"pairs": pairs, "prose": prose, "table": table, "records": records}


def build_word_tokenizer(folder: Path, corpus: list[str]) -> Path:
    """Save a word-level tokenizer: one token per whitespace-separated word, so counts are known."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    core.train_from_iterator(corpus, trainers.WordLevelTrainer(special_tokens=["[UNK]", "<eos>"]))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, unk_token="[UNK]", eos_token="<eos>")
    tokenizer.save_pretrained(folder)
    return folder


def fixture_config(data: dict[str, Path], model_dir: Path) -> dict[str, Any]:
    """A tiny pipeline config over the fixture files: every format, a mixture, two seeds.

    `model_dir` holds a tiny LM with the word tokenizer: it counts the budgets, is the Task2Vec
    probe, and is fine-tuned for a few steps.
    """
    template = "informal statement {informal} formal statement {formal}"
    return {
        "models": {"words": {"path": str(model_dir)}},
        "datasets": {
            "pairs": {
                "local": {"path": str(data["pairs"])},
                "fields": ["informal", "formal"],
                "format": "pair",
                "template": template,
            },
            "pairs_split": {
                "local": {"path": str(data["pairs"])},
                "fields": ["informal", "formal"],
                "format": "split",
            },
            "prose": {
                "local": {"path": str(data["prose"]), "separator": "\n\n"},
                "fields": ["text"],
            },
            "table": {"local": {"path": str(data["table"])}, "fields": ["text"]},
            "mix": {"mixture": {"pairs": 1, "prose": 3}},
        },
        "experiments": {
            "demo": {
                "kind": "finetune",
                "model": "words",
                "train": ["pairs", "pairs_split", "prose", "mix"],
                "eval": ["table"],
                "budget": 120,
                "seeds": [0, 1],
                "metrics": ["task2vec", "gzip", "ngram"],
                "training": {"max_steps": 3, "batch_size": 4, "seq_len": 32, "lr": 1e-3},
                # pairs and pairs_split read the same rows: 3 train sets, the fewest for a fit
                "analysis": {"min_train_sets": 3, "bootstrap": 200},
            }
        },
        "alignment": {
            "task2vec": {
                "probe": "words",
                "batch_size": 4,
                "seq_len": 16,
                "batches": 2,
                "epochs": 1,
            },
            "gzip": {"max_pairs": 200},
        },
    }


def validated(config: dict[str, Any]) -> dict[str, Any]:
    """A copy of `config` with the schema's defaults filled in, as rules see it."""
    import copy

    from dataalign.plan.checks import validate_config

    config = copy.deepcopy(config)
    validate_config(config)
    return config


def model_folder(config: dict[str, Any], experiment: str, train: str, seed: int) -> str:
    """Where the model an experiment trains on one draw of a train set is saved."""
    from dataalign.plan.jobs import trained_model

    return trained_model(validated(config), experiment, train, seed).folder


def evaluation_path(config: dict[str, Any], experiment: str, train: str, seed: int = 0) -> str:
    """The evaluation file of one model (train set or `base`, seed) of a 1-benchmark experiment."""
    from dataalign.plan.jobs import experiment_evaluations

    return next(
        e.path
        for e in experiment_evaluations(validated(config), experiment)
        if e.params["labels"]["train"] == train and e.params["labels"]["seed"] == seed
    )


def write_config(config: dict[str, Any], path: Path) -> Path:
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


@dataclass
class Job:
    rule: str
    wildcards: dict[str, str]
    output: list[str]
    resources: dict[str, Any] = field(default_factory=dict)


class _JobCollector(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.jobs: list[Job] = []

    def emit(self, record: logging.LogRecord) -> None:
        if str(getattr(record, "event", "")) in ("job_info", "LogEvent.JOB_INFO"):
            resources = getattr(record, "resources", None) or {}
            self.jobs.append(
                Job(
                    record.rule_name,
                    dict(record.wildcards or {}),
                    list(record.output or []),
                    {k: v for k, v in dict(resources).items() if not k.startswith("_")},
                )
            )


def snakemake_command(workdir: Path, configfile: Path, *extra: str) -> list[str]:
    """The `snakemake` command line a user runs on this workflow, with `extra` arguments."""
    import sys

    return [
        *(sys.executable, "-m", "snakemake", *extra),
        *("--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir)),
        *("--configfile", str(configfile)),
    ]


def tiny_llama(vocab: int, **overrides: Any):
    """A 2-layer random Llama (grouped-query attention, untied head), seeded: the same each call."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    shape = dict(hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4)
    config = LlamaConfig(
        vocab_size=vocab,
        **{**shape, "num_key_value_heads": 2, "max_position_embeddings": 64, **overrides},
        tie_word_embeddings=False,
    )
    return LlamaForCausalLM(config).eval()


def workflow_rules(workdir: Path, configfile: Path) -> list:
    """The parsed workflow's rules (their declared resources, wildcards and outputs)."""
    from snakemake.api import SnakemakeApi
    from snakemake.settings.types import (
        ConfigSettings,
        OutputSettings,
        Quietness,
        ResourceSettings,
    )

    with SnakemakeApi(OutputSettings(quiet={Quietness.ALL})) as api:
        workflow = api.workflow(
            resource_settings=ResourceSettings(cores=1),
            config_settings=ConfigSettings(configfiles=[configfile]),
            snakefile=REPO / "Snakefile",
            workdir=workdir,
        )
        return list(workflow._workflow.rules)  # the API's parsed workflow; no public accessor


def run_snakemake(
    workdir: Path,
    configfile: Path,
    targets: list[str] | None = None,
    dryrun: bool = False,
    cores: int = 2,
    replace_workflow_config: bool = False,
) -> list[Job]:
    """Run (or dry-run) the workflow through the Snakemake API; return the jobs it scheduled.
    `replace_workflow_config`: `configfile` alone, without config/config.yaml under it."""
    from snakemake.api import SnakemakeApi
    from snakemake.logging import logger
    from snakemake.settings.types import (
        ConfigSettings,
        DAGSettings,
        OutputSettings,
        Quietness,
        ResourceSettings,
    )

    collector = _JobCollector()
    try:
        with SnakemakeApi(OutputSettings(quiet={Quietness.ALL})) as api:
            logger.addHandler(collector)  # after the API has set up its own handlers
            workflow = api.workflow(
                resource_settings=ResourceSettings(cores=cores),
                config_settings=ConfigSettings(
                    configfiles=[configfile], replace_workflow_config=replace_workflow_config
                ),
                snakefile=REPO / "Snakefile",
                workdir=workdir,
            )
            dag = workflow.dag(DAGSettings(targets=set(targets or [])))
            dag.execute_workflow(executor="dryrun" if dryrun else "local")
    finally:
        logger.removeHandler(collector)
    return [job for job in collector.jobs if job.rule != "all"]
