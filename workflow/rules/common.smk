# Validation, wildcard constraints and input functions shared by every stage.

import os
import re
import shutil
import sys
from pathlib import Path

# The library in src/ is importable here and in every job (conda environments included),
# whether or not it was pip-installed.
SRC = str(Path(workflow.basedir) / "src")
sys.path.insert(0, SRC)
os.environ.update(PYTHONPATH=os.pathsep.join(filter(None, [SRC, os.environ.get("PYTHONPATH")])))

from dataalign.config import (
    MODEL_METHODS,
    align_settings,
    analysis_params,
    choice_params,
    download_spec,
    embed_settings,
    eval_subset,
    evaluation_runs,
    experiment_evaluations,
    experiments_of_kind,
    harness_runs,
    panel_params,
    panel_requests,
    panel_scorings,
    pool_parts,
    selection_panels,
    selection_params,
    selections,
    shared_row_warnings,
    subset_parts,
    train_sets,
    train_subsets,
    trained_model,
    training_runs,
    validate_config,
)
from dataalign.errors import ConfigError
from dataalign.io import find_installed
from dataalign.resources import job_resources, job_threads, parameter_estimate, training_tokens
from dataalign.sources import source_fingerprint

# A bad config stops the run here, before any job starts, with one message naming the key.
try:
    validate_config(config, Path(workflow.basedir) / "workflow" / "schemas" / "config.schema.yaml")
except ConfigError as error:
    raise WorkflowError(str(error)) from None
for warning in shared_row_warnings(config):
    logger.warning(f"Note: {warning}")

# Models and evaluations are named by what decides them, so experiments that need the same one
# share it: each distinct model is trained once, each (model, eval subset) scored once.
TRAININGS = training_runs(config)
EVALUATIONS = evaluation_runs(config)
PANEL_SCORINGS = panel_scorings(config)
SELECTIONS = selections(config)
HARNESS_RUNS = {
    (run.model, run.digest): run
    for name in experiments_of_kind(config, "panel")
    for run in harness_runs(config, name)
}

# Datasets with rows of their own (not mixtures): from the Hub (a failed download is retried),
# or offline from a local file or an installed corpus (a failed read is the data's: not retried).
SOURCED = [d for d, entry in config["datasets"].items() if "mixture" not in entry]
HUB_DATASETS = [d for d in SOURCED if "hub" in download_spec(config, d)]
OFFLINE_DATASETS = [d for d in SOURCED if d not in HUB_DATASETS]


# A GPU stage asks for one GPU where the machine has one (a CPU-only laptop sees no GPU request);
# profiles/slurm asks for one for every GPU stage on the cluster.
GPUS = int(shutil.which("nvidia-smi") is not None)


def sized(stage, key):
    """A rule resource (`mem_mb` or `runtime`) scaled from the job's model and tokens, growing
    with each retry (see dataalign.resources)."""

    def resource(wildcards, attempt):
        entry, tokens, training = stage_workload(stage, wildcards)
        return job_resources(parameter_estimate(entry), tokens, training, attempt)[key]

    return resource


def threads_for(stage, most):
    """CPU threads for a model job, by the size of its model (see dataalign.resources)."""

    def threads(wildcards):
        entry, _, _ = stage_workload(stage, wildcards)
        return job_threads(parameter_estimate(entry), most)

    return threads


def stage_workload(stage, wildcards):
    """The model spec a GPU job loads, the tokens it processes, and whether it trains."""
    if stage == "train":
        run = TRAININGS[wildcards.run]
        tokens = training_tokens(run.params["options"], run.subset.budget)
        return run.params["model"]["entry"], tokens, True
    if stage == "evaluate":
        evaluation = evaluation_of(wildcards)
        base = TRAININGS.get(evaluation.run)
        entry = base.params["model"]["entry"] if base else evaluation.params["model"]["entry"]
        budget = evaluation.subset.budget
        return entry, None if budget == "all" else budget, False
    if stage in ("score_panel", "lm_eval"):
        trained = config["models"][wildcards.model].get("trained")
        if trained:
            run = trained_model(config, trained["experiment"], trained["train"], trained["seed"])
            return run.params["model"]["entry"], None, False
        return config["models"][wildcards.model], None, False
    if stage == "embed_pool":  # a strategy's probe or sentence model
        settings = selection_params(config, wildcards.exp, wildcards.strategy)["settings"]
    else:  # embed: the probe or sentence model
        settings = embed_settings(config, wildcards.metric)
    model = settings.get("probe") or settings["model"]
    return model["entry"], None, False


def one_of(names):
    """A wildcard pattern matching exactly these names (and nothing when there are none)."""
    return "|".join(re.escape(name) for name in names) or "(?!)"


wildcard_constraints:
    ds=r"[A-Za-z0-9_.\-]+",
    train=r"[A-Za-z0-9.\-]+(_[A-Za-z0-9.\-]+)*",
    eval=r"[A-Za-z0-9.\-]+(_[A-Za-z0-9.\-]+)*",
    exp=r"[A-Za-z0-9_.\-]+",
    tokenizer=r"[A-Za-z0-9_.\-]+",
    budget=r"[0-9]+|all",
    seed=r"[0-9]+",
    metric=r"task2vec|gzip|sbert|ngram",
    model=r"[A-Za-z0-9_.\-]+",
    digest=r"[0-9a-f]{10}",


def embedding_path(metric, key):
    """Where one subset's embedding under `metric` is cached (computed once, shared by pairs)."""
    return f"results/embeddings/{metric}/{key.tokenizer}/{key.dataset}/{key.budget}-{key.seed}.parquet"


def all_targets():
    """Every experiment's tables, figures and evaluations (a panel's correlation and figure)."""
    targets = []
    for name, experiment in config["experiments"].items():
        if experiment["kind"] == "panel":
            targets += [f"results/tables/{name}/panel_correlation.csv"]
            continue
        if experiment["kind"] == "select":
            targets += [f"results/tables/{name}/selection.csv"]
        targets += [f"results/tables/{name}/alignment_{m}.csv" for m in experiment["metrics"]]
        targets += [f"results/tables/{name}/correlation_{m}.csv" for m in experiment["metrics"]]
        if len(experiment["metrics"]) > 1:
            targets.append(f"results/plots/{name}/alignment_vs_performance_by_metric.png")
        targets += evaluations_of(name)
    return targets


def experiment_metrics(exp):
    """The alignment metrics an experiment is analysed with."""
    return config["experiments"][exp]["metrics"]


def evaluations_of(exp):
    """The shared evaluation files an experiment's tables gather."""
    return [evaluation.path for evaluation in experiment_evaluations(config, exp)]


def training_runs_pattern(from_scratch):
    """A wildcard pattern matching the models pre-trained from scratch, or those fine-tuned."""
    return one_of(name for name, run in TRAININGS.items() if run.from_scratch == from_scratch)


def training_inputs(wildcards):
    """A model trains on its subset's memory-mapped token ids (the Parquet only for its size)."""
    subset = TRAININGS[wildcards.run].subset
    return {"subset": subset.path, "tokens": subset.tokens}


def evaluation_pattern():
    """A wildcard pattern matching exactly the evaluations some experiment needs."""
    return one_of(path.removeprefix("results/eval/").removesuffix(".parquet") for path in EVALUATIONS)


def evaluation_of(wildcards):
    """The evaluation an output path names."""
    return EVALUATIONS[f"results/eval/{wildcards.evaluation}.parquet"]


def evaluation_inputs(wildcards):
    """The eval subset and, for a trained model, its weights (so it is trained first)."""
    evaluation = evaluation_of(wildcards)
    inputs = {"subset": evaluation.subset.path}
    if evaluation.run in TRAININGS:
        inputs["weights"] = f"{TRAININGS[evaluation.run].folder}/model.safetensors"
    return inputs


def alignment_inputs(wildcards):
    """The cached embeddings of every seed's train subset and of the eval subset."""
    train = train_subsets(config, wildcards.exp, wildcards.train)
    return {
        "eval": embedding_path(wildcards.metric, eval_subset(config, wildcards.exp, wildcards.eval)),
        **{f"train_{key.seed}": embedding_path(wildcards.metric, key) for key in train},
    }


def alignment_pairs(wildcards):
    """One alignment file per train x eval pair of an experiment."""
    experiment = config["experiments"][wildcards.exp]
    return [
        f"results/alignment/{wildcards.exp}/{wildcards.metric}/{train}__{evaluation}.parquet"
        for train in train_sets(config, wildcards.exp)
        for evaluation in experiment["eval"]
    ]


def panel_scoring_inputs(wildcards):
    """Rows of every dataset the member scores and, for a model this pipeline trains, its weights
    (so it runs first)."""
    return rows_of(PANEL_SCORINGS[wildcards.model].datasets) | trained_weights(wildcards)


def trained_weights(wildcards):
    """A panel member this pipeline trains: its weights, so jobs that load it run after training."""
    trained = config["models"][wildcards.model].get("trained")
    if not trained:
        return {}
    run = trained_model(config, trained["experiment"], trained["train"], trained["seed"])
    return {"weights": f"{run.folder}/model.safetensors"}


def panel_results(wildcards):
    """Every member's scores (shared with other panels), and its lm-eval results or the user's
    benchmark table, if any."""
    experiment = config["experiments"][wildcards.exp]
    scores = [PANEL_SCORINGS[model].path for model in experiment["models"]]
    table = experiment["benchmark_scores"]
    return {
        "scores": scores,
        "harness": [run.path for run in harness_runs(config, wildcards.exp)],
        "benchmark_scores": table if isinstance(table, str) else [],
    }



def download_params(wildcards):
    """The slice of a dataset's config that decides its downloaded rows."""
    return download_spec(config, wildcards.ds)


def local_source(wildcards):
    """A local source file is an input, so editing it reruns the download."""
    path = download_spec(config, wildcards.ds).get("local", {}).get("path")
    return str(find_installed(path) or path) if path else []


def subset_rows(wildcards):
    """Downloaded rows of the dataset, or of each part of a mixture, keyed by dataset name."""
    return {
        part: f"resources/datasets/{part}.parquet"
        for part in subset_parts(config, wildcards.ds)
    }


def rows_of(datasets):
    """Downloaded rows of each dataset, keyed `rows_{dataset}`."""
    return {f"rows_{ds}": f"resources/datasets/{ds}.parquet" for ds in datasets}


def selection_of(wildcards):
    """The strategy an output path names."""
    return SELECTIONS[f"{wildcards.exp}.{wildcards.strategy}"]


def pool_score_inputs(wildcards):
    """Rows of the pool, the target and the benchmarks; for perplexity_correlations, every panel
    member's scores (shared with the panels it sits on)."""
    params = selection_params(config, wildcards.exp, wildcards.strategy)
    datasets = [*params["pool"], *params["target"]]
    datasets += [part for parts in params["benchmarks"].values() for part in parts]
    members = selection_panels(config).get(f"{wildcards.exp}.{wildcards.strategy}", [])
    return rows_of(dict.fromkeys(datasets)) | {
        f"panel_{model}": PANEL_SCORINGS[model].path for model in members
    }


def strategies_on(gpu):
    """Names of the strategies that score the pool with a model (SBERT, Task2Vec), or without."""
    return sorted({s.strategy for s in SELECTIONS.values() if (s.method in MODEL_METHODS) == gpu})


def choice_inputs(wildcards):
    """A strategy's pool scores and the pool's rows (the chosen ones are written out)."""
    return {"scores": selection_of(wildcards).scores} | rows_of(pool_parts(config, wildcards.exp))


def selection_summary_inputs(wildcards):
    """Every evaluation, alignment pair and selection report of a selection experiment."""
    experiment = config["experiments"][wildcards.exp]
    strategies = [s for s in SELECTIONS.values() if s.experiment == wildcards.exp]
    return {
        "evaluations": evaluations_of(wildcards.exp),
        "alignments": [
            f"results/alignment/{wildcards.exp}/{metric}/{train}__{evaluation}.parquet"
            for metric in experiment["metrics"]
            for train in train_sets(config, wildcards.exp)
            for evaluation in experiment["eval"]
        ],
        "scores": [f"{strategy.folder}/scores.json" for strategy in strategies],
        "choices": [
            key.path.removesuffix(".parquet") + ".choice.json"
            for train in train_sets(config, wildcards.exp)
            for key in train_subsets(config, wildcards.exp, train)
        ],
    }
