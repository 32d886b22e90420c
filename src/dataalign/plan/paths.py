"""The one registry of artefact paths: rules use these patterns as `output:`, Python fills them.

Each pattern is written here once, with Snakemake's `{wildcard}` names, so a rule's output and the
path a lookup computes for the same artefact cannot drift apart. `fill` puts values into a pattern;
wildcards it is not given stay wildcards.
"""

from __future__ import annotations

import re
from typing import Any

ROWS = "resources/datasets/{ds}.parquet"

SUBSET_KEY = "{tokenizer}/{ds}/{budget}-{seed}"
ALL = "all"  # the budget of a subset holding a whole dataset
SUBSET = f"results/subsets/{SUBSET_KEY}.parquet"
SUBSET_TOKENS = f"results/subsets/{SUBSET_KEY}.tokens.npy"
CHOICE = f"results/subsets/{SUBSET_KEY}.choice.json"  # a selected subset's report
SELECTED = "{exp}.{strategy}"  # the dataset name a strategy's choice gets
WHOLE_POOL = "pool-{digest}"  # stands for {exp} in a whole-pool choice's name: its pool's digest

EMBEDDING_KEY = "{metric}/" + SUBSET_KEY
EMBEDDING = f"results/embeddings/{EMBEDDING_KEY}.parquet"
PAIR_KEY = "{exp}/{metric}/{train}__{eval}"
ALIGNMENT = f"results/alignment/{PAIR_KEY}.parquet"

MODEL = "results/models/{run}"
MODEL_WEIGHTS = f"{MODEL}/model.safetensors"
MODEL_CONFIG = f"{MODEL}/config.json"
TRAIN_LOG = f"{MODEL}/train_log.parquet"
CHECKPOINTS = "results/checkpoints/{run}"
RUN = "{model}/{ds}/{budget}-{seed}-{digest}"  # a trained model: what it is, then its digest
BASE_RUN = "{model}/base/{digest}"  # an experiment's untrained base model

EVALUATION_KEY = "{run}/{ds}/{budget}-{digest}"
EVALUATION = "results/eval/{evaluation}.parquet"

MEMBER_KEY = "{model}/{digest}"
PANEL_SCORES = "results/panel/{model}/scores-{digest}.parquet"
LM_EVAL = "results/panel/{model}/lm_eval-{digest}.json"

SELECTION = "results/selection/{exp}"
SHARD_KEY = "{exp}/{shard}"  # a pool shard's scan (logs and benchmark records)
STRATEGY_SHARD_KEY = "{exp}/{strategy}/{shard}"  # a strategy's job on a pool shard
POOL_INDEX = f"{SELECTION}/pool-{{shard}}.parquet"  # a pool shard's scan, shared by strategies
POOL_INDEX_REPORT = f"{SELECTION}/pool-{{shard}}.json"
STRATEGY = f"{SELECTION}/{{strategy}}"
POOL_STATISTIC = f"{STRATEGY}/statistic-{{shard}}.parquet"  # what scoring needs of the shard
POOL_STATISTIC_REPORT = f"{STRATEGY}/statistic-{{shard}}.json"
POOL_FEATURES = f"{STRATEGY}/features-{{shard}}.bin"  # arrays the statistic pass saves for scoring
POOL_SCORES = f"{STRATEGY}/scores-{{shard}}.parquet"
POOL_REPORT = f"{STRATEGY}/scores-{{shard}}.json"

TABLES = "results/tables/{exp}"
PLOTS = "results/plots/{exp}"
BENCHMARKS = "results/benchmarks"

_WILDCARD = re.compile(r"\{(\w+)\}")


def fill(pattern: str, **values: Any) -> str:
    """`pattern` with the given wildcards replaced by their values, the others left as they are."""
    return _WILDCARD.sub(lambda m: str(values[m[1]]) if m[1] in values else m[0], pattern)


def table(name: str, suffix: str = "csv") -> str:
    """An experiment's table, e.g. `table("correlation_{metric}", "md")`."""
    return f"{TABLES}/{name}.{suffix}"


def plot(name: str, suffix: str = "png") -> str:
    """An experiment's figure."""
    return f"{PLOTS}/{name}.{suffix}"


def log(rule: str, key: str) -> str:
    """A job's log, named by its rule and the wildcards that identify it."""
    return f"logs/{rule}/{key}.log"


def benchmark(rule: str, key: str) -> str:
    """A job's time and memory record (Snakemake's `benchmark:`), beside its log's name."""
    return f"{BENCHMARKS}/{rule}/{key}.tsv"
