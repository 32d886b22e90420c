# Validation, the plan of jobs, wildcard constraints and resource sizing shared by every stage.
# Output paths come from dataalign.plan.paths; input functions and params from PLAN.

import os
import re
import sys
from pathlib import Path

# The library in src/ is importable here and in every job (conda environments included),
# whether or not it was pip-installed.
SRC = str(Path(workflow.basedir) / "src")
sys.path.insert(0, SRC)
os.environ.update(PYTHONPATH=os.pathsep.join(filter(None, [SRC, os.environ.get("PYTHONPATH")])))

from dataalign.errors import ConfigError
from dataalign.plan import Plan, paths
from dataalign.plan.checks import validate_config
from dataalign.plan.checks.files import check_writable, read_config_file
from dataalign.plan.jobs import shared_row_warnings
from dataalign.plan import params as slices
from dataalign.resources import gpu_count, job_resources, job_threads, parameter_estimate
from dataalign.data.hub import hub_offline
from dataalign.data.sources import source_fingerprint

# A bad config stops the run here, before any job starts, with one message naming the key.
try:
    for configfile in workflow.configfiles:
        read_config_file(configfile)  # keys written twice
    validate_config(config)
    check_writable()
except ConfigError as error:
    raise WorkflowError(str(error)) from None
for warning in shared_row_warnings(config):
    logger.warning(f"Note: {warning}")

# Models and evaluations are named by what decides them, so experiments that need the same one
# share it: each distinct model is trained once, each (model, eval subset) scored once.
PLAN = Plan(config)

# A GPU stage asks for one GPU where the machine has one (a CPU-only laptop sees no GPU request);
# profiles/slurm asks for one for every GPU stage on the cluster.
GPUS = gpu_count()

# Offline (HF_HUB_OFFLINE or HF_DATASETS_OFFLINE set), a Hub download that fails will fail
# again: it is not retried.
HUB_OFFLINE = hub_offline() is not None


def sized(workload, key):
    """A rule resource (`mem_mb` or `runtime`) scaled from the job's model and tokens, growing
    with each retry (see dataalign.resources)."""

    def resource(wildcards, attempt):
        job = workload(wildcards)
        return job_resources(parameter_estimate(job.entry), job.tokens, job.training, attempt)[key]

    return resource


def threads_for(workload, most):
    """CPU threads for a model job, by the size of its model (see dataalign.resources)."""

    def threads(wildcards):
        return job_threads(parameter_estimate(workload(wildcards).entry), most)

    return threads


def one_of(names):
    """A wildcard pattern matching exactly these names (and nothing when there are none)."""
    return "|".join(re.escape(name) for name in names) or "(?!)"


wildcard_constraints:
    ds=r"[A-Za-z0-9_.\-]+",
    train=r"[A-Za-z0-9.\-]+(_[A-Za-z0-9.\-]+)*",
    eval=r"[A-Za-z0-9.\-]+(_[A-Za-z0-9.\-]+)*",
    exp=r"[A-Za-z0-9_.\-]+",
    tokenizer=r"[A-Za-z0-9_.\-]+",
    budget=f"[0-9]+|{paths.ALL}",
    seed=r"[0-9]+",
    metric=one_of(PLAN.metrics_on(gpu=True) + PLAN.metrics_on(gpu=False)),
    model=r"[A-Za-z0-9_.\-]+",
    digest=r"[0-9a-f]{10}",
    shard=r"\d+",


def gpu_job(workload):
    """The resources of a model job (training, evaluation, embedding, scoring), sized from its
    workload: a GPU where there is one, memory and runtime (see dataalign.resources)."""
    return {
        "gpu": GPUS,
        "mem_mb": sized(workload, "mem_mb"),
        "runtime": sized(workload, "runtime"),
    }


def metrics_of(wildcards):
    """The alignment metrics an experiment is analysed with."""
    return config["experiments"][wildcards.exp]["metrics"]
