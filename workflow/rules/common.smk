# Validation, wildcard constraints and input functions shared by every stage.

import os
import re
import sys
from pathlib import Path

# The library in src/ is importable here and in every job (conda environments included),
# whether or not it was pip-installed.
SRC = str(Path(workflow.basedir) / "src")
sys.path.insert(0, SRC)
os.environ.update(PYTHONPATH=os.pathsep.join(filter(None, [SRC, os.environ.get("PYTHONPATH")])))

from dataalign.config import (
    align_settings,
    analysis_params,
    panel_datasets,
    panel_model,
    panel_prompt,
    download_spec,
    embed_settings,
    eval_subset,
    experiment_subsets,
    experiments_of_kind,
    subset_parts,
    train_params,
    train_subsets,
    trained_model_dir,
    validate_config,
)
from dataalign.io import find_installed
from dataalign.train import checkpoint_key

# A bad config stops the run here, before any job starts, with one message naming the key.
validate_config(config, Path(workflow.basedir) / "workflow" / "schemas" / "config.schema.yaml")


wildcard_constraints:
    ds=r"[A-Za-z0-9_.\-]+",
    train=r"[A-Za-z0-9.\-]+(_[A-Za-z0-9.\-]+)*",
    eval=r"[A-Za-z0-9.\-]+(_[A-Za-z0-9.\-]+)*",
    exp=r"[A-Za-z0-9_.\-]+",
    tokenizer=r"[A-Za-z0-9_.\-]+",
    budget=r"[0-9]+|all",
    seed=r"[0-9]+",
    metric=r"task2vec|gzip|sbert",
    model=r"[A-Za-z0-9_.\-]+",


def subset_path(key):
    """Where one token-budget subset is written (see dataalign.config.SubsetKey)."""
    return f"results/subsets/{key.tokenizer}/{key.dataset}/{key.budget}-{key.seed}.parquet"


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
        targets += [f"results/tables/{name}/alignment_{m}.csv" for m in experiment["metrics"]]
        targets += [f"results/tables/{name}/correlation_{m}.csv" for m in experiment["metrics"]]
        if len(experiment["metrics"]) > 1:
            targets.append(f"results/plots/{name}/alignment_vs_performance_by_metric.png")
        targets += experiment_evaluations(name)
    return targets


def experiment_metrics(exp):
    """The alignment metrics an experiment is analysed with."""
    return config["experiments"][exp]["metrics"]


def experiment_evaluations(exp):
    """Every train x eval evaluation of an experiment, and the base model's when it has one."""
    experiment = config["experiments"][exp]
    trained = list(experiment["train"])
    if experiment["kind"] == "finetune":
        trained.append("base")  # the untrained model: the paper's "Standard GPT-2" row
    return [f"results/eval/{exp}/{t}__{e}.parquet" for t in trained for e in experiment["eval"]]


def kind_pattern(kind):
    """A wildcard pattern matching exactly the experiments of one kind."""
    names = experiments_of_kind(config, kind)
    return "|".join(re.escape(name) for name in names) or "(?!)"


def model_weights(exp, train, seed):
    """The weights file of one trained model (its folder also holds config and tokenizer)."""
    return f"{trained_model_dir(exp, train, seed)}/model.safetensors"


def training_params(wildcards):
    """The slice of the config that decides one trained model."""
    return train_params(config, wildcards.exp, int(wildcards.seed))


def checkpoint_dir(wildcards):
    """Checkpoints live outside the declared outputs, keyed by the job's params."""
    key = checkpoint_key({"params": training_params(wildcards), "subset": training_subset(wildcards)})
    return f"results/checkpoints/{key}"


def training_subset(wildcards):
    """The subset one seed of a train set is trained on."""
    keys = train_subsets(config, wildcards.exp, wildcards.train)
    return subset_path(next(key for key in keys if key.seed == int(wildcards.seed)))


def evaluation_inputs(wildcards):
    """The eval subset and, unless it is the base model, every seed's trained weights."""
    inputs = {"subset": subset_path(eval_subset(config, wildcards.exp, wildcards.eval))}
    if wildcards.train != "base":
        for seed in config["experiments"][wildcards.exp]["seeds"]:
            inputs[f"model_{seed}"] = model_weights(wildcards.exp, wildcards.train, seed)
    return inputs


def evaluation_params(wildcards):
    """Evaluation options, and the base model's spec when the base model is evaluated."""
    experiment = config["experiments"][wildcards.exp]
    params = {"options": experiment["evaluation"]}
    if wildcards.train == "base":
        params["base"] = train_params(config, wildcards.exp, 0)
    return params


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
        for train in experiment["train"]
        for evaluation in experiment["eval"]
    ]


def panel_scoring_inputs(wildcards):
    """The dataset's rows and, for a model this pipeline trains, its weights (so it runs first)."""
    inputs = {"rows": f"resources/datasets/{wildcards.ds}.parquet"}
    trained = config["models"][wildcards.model].get("trained")
    if trained:
        inputs["weights"] = model_weights(trained["experiment"], trained["train"], trained["seed"])
    return inputs


def panel_scoring_params(wildcards):
    """How one panel member loads and which examples it scores, with which prompt."""
    experiment = config["experiments"][wildcards.exp]
    return {
        **panel_model(config, wildcards.model),
        "prompt": panel_prompt(experiment, wildcards.ds),
        **{k: experiment[k] for k in ("examples", "seed", "batch_size")},
    }


def panel_results(wildcards):
    """Every member's scores on every panel dataset, and the user's benchmark table if any."""
    experiment = config["experiments"][wildcards.exp]
    scores = [
        f"results/panel/{wildcards.exp}/{model}/{ds}.parquet"
        for model in experiment["models"]
        for ds in panel_datasets(config, wildcards.exp)
    ]
    return {"scores": scores, "benchmark_scores": experiment["benchmark_scores"] or []}


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
