# Validation, wildcard constraints and input functions shared by every stage.

import os
import sys
from pathlib import Path

# The library in src/ is importable here and in every job (conda environments included),
# whether or not it was pip-installed.
SRC = str(Path(workflow.basedir) / "src")
sys.path.insert(0, SRC)
os.environ.update(PYTHONPATH=os.pathsep.join(filter(None, [SRC, os.environ.get("PYTHONPATH")])))

from dataalign.config import download_spec, experiment_subsets, subset_parts, validate_config

# A bad config stops the run here, before any job starts, with one message naming the key.
validate_config(config, Path(workflow.basedir) / "workflow" / "schemas" / "config.schema.yaml")


wildcard_constraints:
    ds=r"[A-Za-z0-9_.\-]+",
    tokenizer=r"[A-Za-z0-9_.\-]+",
    budget=r"[0-9]+|all",
    seed=r"[0-9]+",


def subset_path(key):
    """Where one token-budget subset is written (see dataalign.config.SubsetKey)."""
    return f"results/subsets/{key.tokenizer}/{key.dataset}/{key.budget}-{key.seed}.parquet"


def all_subsets():
    """Every subset any experiment trains or evaluates on, each listed once."""
    keys = {key for name in config["experiments"] for key in experiment_subsets(config, name)}
    return sorted(subset_path(key) for key in keys)


def download_params(wildcards):
    """The slice of a dataset's config that decides its downloaded rows."""
    return download_spec(config, wildcards.ds)


def local_source(wildcards):
    """A local source file is an input, so editing it reruns the download."""
    return download_spec(config, wildcards.ds).get("local", {}).get("path", [])


def subset_rows(wildcards):
    """Downloaded rows of the dataset, or of each part of a mixture, keyed by dataset name."""
    return {
        part: f"resources/datasets/{part}.parquet"
        for part in subset_parts(config, wildcards.ds)
    }
