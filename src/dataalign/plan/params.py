"""Each job's slice of the config: exactly what decides its output, and nothing else, so editing
one value reruns only the jobs that read it.

Every rule's `params:` comes from a function here. A slice whose keys the plan sets is declared
once as a `TypedDict` (its docstring names the rules and the library step that read it); a slice
that hands on a config section whole (a metric's or strategy's options, an experiment's
`analysis:`) is a plain mapping, its keys declared by the schema. They stay dicts at run time:
Snakemake compares a job's params with the ones it recorded only when they are built-in types.
"""

from __future__ import annotations

from typing import Any, TypedDict

from dataalign.align.metrics import metric as registered_metric
from dataalign.analysis.frontier import TARGET
from dataalign.digest import content_digest
from dataalign.plan.lookup import (
    Config,
    budget_tokenizer,
    control_prompt,
    download_spec,
    flag_reference,
    named_model,
    panel_datasets,
    panel_prompt,
    pick,
    pool_parts,
    proxy_view,
    running_text_prompt,
    strategy_method,
    subset_parts,
    tokenizer_owner,
    train_units,
)
from dataalign.select.strategies import StrategyView
from dataalign.select.strategies import strategy as registered_strategy

Slice = dict[str, Any]  # a config section handed on whole; its keys are the schema's


class ModelRef(TypedDict):
    """A model by its name under `models:`, its entry inlined so an edited entry renames what it
    decides (`dataalign.models.load_model_and_tokenizer` reads it)."""

    name: str
    entry: dict[str, Any]


class TrainParams(TypedDict):
    """Rules finetune and pretrain (`dataalign.train.trainer`): what decides a trained model."""

    model: ModelRef
    tokenizer: ModelRef
    options: dict[str, Any]  # the experiment's `training:` with the draw's seed and precision


class EvaluationParams(TypedDict):
    """Rule evaluate (`dataalign.train.evaluate.perplexity`): a model on one benchmark subset."""

    model: ModelRef
    tokenizer: ModelRef
    options: dict[str, Any]  # the experiment's `evaluation:` with the precision
    labels: dict[str, Any]  # train set, benchmark and seed, copied into the scores' row


class PoolShard(TypedDict):
    """Which shard of which pool a selection job reads (`dataalign.select.pool`)."""

    pool: dict[str, dict[str, Any]]  # each pool dataset's parts, as a subset reads them
    shard: int
    shards: int


class ScanParams(PoolShard):
    """Rule scan_pool (`dataalign.select.steps.scan_shard`): token counts and held-out examples."""

    target: dict[str, dict[str, Any]]
    benchmarks: dict[str, dict[str, Any]]
    tokenizer: ModelRef


class StatisticParams(PoolShard):
    """Rule pool_statistic (`dataalign.select.steps`): a strategy's statistic of one pool shard."""

    method: str
    settings: Slice


class SelectionParams(StatisticParams):
    """Rules score_pool and embed_pool (`dataalign.select.steps`): a strategy's pool scores."""

    target: dict[str, dict[str, Any]]


class ChoiceParams(TypedDict):
    """Rule select (`dataalign.select.choice.choose`): one seed's choice from the scores."""

    method: str
    temperature: float | None
    pool: dict[str, dict[str, Any]]
    tokenizer: ModelRef


class ComparisonParams(TypedDict):
    """Rule compare_metrics (`dataalign.analysis.correlation.adjust_across`)."""

    metrics: list[str]
    target: str


class SelectionTableParams(TypedDict):
    """Rule selection_table (`dataalign.select.summary.selection_table`)."""

    strategies: list[str]
    target: str


class FrontierParams(TypedDict):
    """Rule frontier (`dataalign.analysis.frontier.frontier_table`): the predictors, the train
    sets' units, and the tokens each trained predictor's optimiser step processes (FLOPs)."""

    proxies: list[str]
    metrics: list[str]
    units: dict[str, str]
    tokens_per_step: dict[str, int]  # the experiment's own models under TARGET, each proxy's
    metric_flops: dict[str, float | None]  # a metric's estimated FLOPs for all its embeddings


class UnigramParams(TypedDict):
    """Rule unigram_baseline (`dataalign.analysis.baselines.unigram_table`): the train subsets
    and benchmarks in input order, and the tokenizer whose vocabulary the baseline spans."""

    train: list[list[Any]]  # [train set, seed]
    eval: list[str]
    tokenizer: ModelRef


def embed_settings(config: Config, metric: str) -> dict[str, Any]:
    """The config slice that decides a dataset's embedding under `metric` (model specs inlined)."""
    section = config["alignment"].get(metric, {})
    return registered_metric(metric).embed_settings(section, lambda name: named_model(config, name))


def align_settings(config: Config, metric: str) -> dict[str, Any]:
    """The config slice that decides how two embeddings combine under `metric`, and the bootstrap
    of its SE (resamples; seeded by the metric's seed)."""
    section = config["alignment"].get(metric, {})
    own = registered_metric(metric).align_keys
    return {"bootstrap": config["alignment"]["bootstrap"], **pick(section, *own)}


def train_params(config: Config, experiment: str, seed: int) -> TrainParams:
    """What decides a trained model: base model, tokenizer, hyper-parameters, seed, precision."""
    spec = config["experiments"][experiment]
    return {
        "model": named_model(config, spec["model"]),
        "tokenizer": named_model(config, tokenizer_owner(config, spec["model"])),
        "options": {**spec["training"], "seed": seed, "precision": config["precision"]},
    }


def tokens_per_step(config: Config, experiment: str) -> int:
    """Tokens one optimiser step of an experiment's runs processes: batch x accumulation x the
    block length (clamped to a fresh architecture's positions, as the trainer clamps it)."""
    spec = config["experiments"][experiment]
    training = spec["training"]
    positions = config["models"][spec["model"]].get("architecture", {}).get("n_positions")
    seq_len = min(training["seq_len"], positions or training["seq_len"])
    return training["batch_size"] * training["grad_accum"] * seq_len


def frontier_params(config: Config, experiment: str) -> FrontierParams:
    """What decides an experiment's frontier table: its proxies and metrics, its units, and the
    tokens per step of its own and each proxy's runs."""
    spec = config["experiments"][experiment]
    names = list(spec["proxies"])
    views = {TARGET: config} | {p: proxy_view(config, experiment, p) for p in names}
    return {
        "proxies": names,
        "metrics": spec["metrics"],
        "units": train_units(config, experiment),
        "tokens_per_step": {
            name: tokens_per_step(view, experiment) for name, view in views.items()
        },
        "metric_flops": {
            metric: metric_flops(config, experiment, metric) for metric in spec["metrics"]
        },
    }


def metric_flops(config: Config, experiment: str, metric: str) -> float | None:
    """A model-based metric's estimated FLOPs over every subset of an experiment (its train
    subsets' draws and its benchmarks); None where the metric gives no estimate."""
    estimate = registered_metric(metric).flops
    if estimate is None:
        return None
    spec = config["experiments"][experiment]
    subsets = len(spec["train"]) * len(spec["seeds"]) + len(spec["eval"])
    return estimate(embed_settings(config, metric)) * subsets


def unigram_params(config: Config, experiment: str) -> UnigramParams:
    """The train subsets (name, seed) and benchmarks of an experiment, in its input order, and
    the tokenizer that counted them."""
    spec = config["experiments"][experiment]
    return {
        "train": [[ds, seed] for ds in spec["train"] for seed in spec["seeds"]],
        "eval": spec["eval"],
        "tokenizer": named_model(config, budget_tokenizer(config, experiment)),
    }


def analysis_params(config: Config, experiment: str) -> dict[str, Any]:
    """How an experiment's alignment-vs-performance fit is computed, and its train-set units."""
    spec = config["experiments"][experiment]
    return {**spec["analysis"], "units": train_units(config, experiment)}


def panel_request(
    dataset: str, prompt: dict[str, Any], examples: int | None, seed: int, shift: int = 0
) -> dict[str, Any]:
    """One dataset's prompts as a member scores them, with its digest (`request` column in the
    scores, so an experiment picks its rows out of scores other panels share). Only a shifted
    request (answers after another row's question) names its shift: the others keep the
    digests they had before shifts existed."""
    request = {"dataset": dataset, "prompt": prompt, "examples": examples, "seed": seed}
    request |= {"shift": shift} if shift else {}
    return {**request, "request": content_digest(request)}


def dataset_requests(config: Config, experiment: str) -> list[dict[str, Any]]:
    """Each dataset of a panel with its prompt and sample: what its correlations compare."""
    spec = config["experiments"][experiment]
    return [
        panel_request(
            dataset,
            (
                control_prompt(config["datasets"][dataset]["fields"])
                if running_text_control(spec, dataset)
                else panel_prompt(spec, dataset)
            ),
            spec["examples"],
            spec["seed"],
        )
        for dataset in panel_datasets(config, experiment)
    ]


def support_requests(config: Config, experiment: str) -> dict[str, list[dict[str, Any]]]:
    """Question support: for the candidate and the flags' reference, the request scoring each
    answer after its own question and the one scoring it after another row's (shift 1).
    Empty where the panel's flags are off."""
    spec = config["experiments"][experiment]
    if spec["flag_reference"] is False:
        return {}
    roles = {"candidate": (spec["candidate"], spec["examples"])}
    reference = flag_reference(spec)
    if reference is not None:
        roles["reference"] = (reference, spec["flag_references"])
    return {
        role: [
            panel_request(dataset, panel_prompt(spec, dataset), examples, spec["seed"], shift)
            for shift in (0, 1)
        ]
        for role, (dataset, examples) in roles.items()
    }


def panel_requests(config: Config, experiment: str) -> list[dict[str, Any]]:
    """Everything a panel asks every member to score: its datasets, then the support pairs
    (a request both lists name, such as the candidate's, is scored once)."""
    support = support_requests(config, experiment).values()
    return [*dataset_requests(config, experiment), *(r for pair in support for r in pair)]


def running_text_control(panel: Config, dataset: str) -> bool:
    """A control without a prompt of its own is general text, scored as running text; one under
    `prompts:` is scored in that question/answer format (a format control)."""
    return dataset in panel["controls"] and dataset not in panel["prompts"]


def score_kinds(config: Config, experiment: str) -> dict[str, str]:
    """The score each dataset of a panel is summarised by: the panel's; a running-text control
    bits per byte."""
    spec = config["experiments"][experiment]
    return {
        dataset: "bits_per_byte" if running_text_control(spec, dataset) else spec["score"]
        for dataset in panel_datasets(config, experiment)
    }


def panel_params(config: Config, experiment: str) -> dict[str, Any]:
    """What a panel's correlation job needs: its roles, score kinds, fit and test settings."""
    spec = config["experiments"][experiment]
    scores = spec["benchmark_scores"]
    return {
        "models": spec["models"],
        "candidate": spec["candidate"],
        "corrupted": config["datasets"][spec["candidate"]].get("shuffle"),
        "benchmarks": spec["benchmarks"],
        "controls": spec["controls"],
        "target": spec["target"],
        "kinds": score_kinds(config, experiment),
        "fit": spec["fit"],
        "flag_fdr": spec["flag_fdr"],
        "requests": [r["request"] for r in dataset_requests(config, experiment)],
        "support": {
            role: [r["request"] for r in pair]
            for role, pair in support_requests(config, experiment).items()
        },
        "bootstrap": spec["bootstrap"],
        "seed": spec["seed"],
        "metrics": scores["lm_eval"].get("metrics", {}) if isinstance(scores, dict) else {},
        "tasks": scores["lm_eval"]["tasks"] if isinstance(scores, dict) else [],
    }


def strategy_view(config: Config, experiment: str) -> StrategyView:
    """What a strategy of a select experiment may read beyond its own entry (resolved on use)."""
    return StrategyView(
        target=config["experiments"][experiment]["target"],
        model=lambda name: named_model(config, name),
        embed_settings=lambda metric: embed_settings(config, metric),
        pool_requests=lambda: pool_requests(config, experiment),
    )


def strategy_settings(config: Config, experiment: str, strategy: str) -> dict[str, Any]:
    """The options of a strategy's method (model specs inlined), as its scoring job takes them."""
    entry = config["experiments"][experiment]["strategies"][strategy]
    method = registered_strategy(strategy_method(config, experiment, strategy))
    return method.job_settings(entry, strategy_view(config, experiment))


def pool_shard_params(config: Config, experiment: str, shard: int) -> PoolShard:
    """Which shard of which pool a job reads: the pool's datasets and how they are formatted."""
    return {
        "pool": pool_parts(config, experiment),
        "shard": shard,
        "shards": config["experiments"][experiment]["shards"],
    }


def target_params(config: Config, experiment: str) -> dict[str, Any]:
    """The target dataset's parts, by its name."""
    target = config["experiments"][experiment]["target"]
    return {"target": {target: subset_parts(config, target)}}


def scan_params(config: Config, experiment: str, shard: int) -> ScanParams:
    """What decides a pool shard's scan: the shard, the target and held-out benchmarks whose
    examples are excluded, and the tokenizer that counts the budget."""
    spec = config["experiments"][experiment]
    return {
        **pool_shard_params(config, experiment, shard),
        **target_params(config, experiment),
        "benchmarks": {dataset: subset_parts(config, dataset) for dataset in spec["eval"]},
        "tokenizer": named_model(config, budget_tokenizer(config, experiment)),
    }


def statistic_params(config: Config, experiment: str, strategy: str, shard: int) -> StatisticParams:
    """What decides a strategy's pool statistic over a shard: method, options and the shard."""
    return {
        "method": strategy_method(config, experiment, strategy),
        "settings": strategy_settings(config, experiment, strategy),
        **pool_shard_params(config, experiment, shard),
    }


def selection_params(config: Config, experiment: str, strategy: str, shard: int) -> SelectionParams:
    """What decides a strategy's scores of a pool shard: its statistic's inputs and the target."""
    return {
        **statistic_params(config, experiment, strategy, shard),
        **target_params(config, experiment),
    }


def choice_params(config: Config, experiment: str, strategy: str) -> ChoiceParams:
    """What decides one seed's choice from the scores: method, temperature, budget, pool."""
    spec = config["experiments"][experiment]
    return {
        "method": strategy_method(config, experiment, strategy),
        "temperature": spec["strategies"][strategy]["temperature"],
        "pool": pool_parts(config, experiment),
        "tokenizer": named_model(config, budget_tokenizer(config, experiment)),
    }


def pool_requests(config: Config, experiment: str) -> list[dict[str, Any]]:
    """What perplexity_correlations asks each panel member to score: every pool example and
    every target example, as running text."""
    datasets = [*pool_parts(config, experiment), config["experiments"][experiment]["target"]]
    return [
        panel_request(dataset, running_text_prompt(config["datasets"][dataset]), None, 0)
        for dataset in dict.fromkeys(datasets)
    ]


def comparison_params(config: Config, experiment: str) -> ComparisonParams:
    """What decides an experiment's table of every metric's fits: the metrics and the target."""
    spec = config["experiments"][experiment]
    return {"metrics": spec["metrics"], "target": spec["analysis"]["target"]}


def selection_table_params(config: Config, experiment: str) -> SelectionTableParams:
    """What decides a select experiment's table: its strategies, in config order, and the target
    score."""
    spec = config["experiments"][experiment]
    return {"strategies": list(spec["strategies"]), "target": spec["analysis"]["target"]}


def study_params(config: Config, study: str) -> list[str]:
    """A selection study's experiments, in the study's order (its table's rows)."""
    return config["selection_studies"][study]


def download_params(config: Config, dataset: str) -> Slice:
    """What decides a dataset's rows: its source and the fields kept (`dataalign.data.sources`)."""
    return download_spec(config, dataset)


def subset_params(config: Config, dataset: str) -> dict[str, dict[str, Any]]:
    """How a subset reads each part of a dataset (one part unless it is a mixture)."""
    return subset_parts(config, dataset)


def tokenizer_params(config: Config, model: str) -> Slice:
    """The entry of the model whose tokenizer counts a subset's budget."""
    return config["models"][model]


def report_to(config: Config) -> str | list[str]:
    """Where else a training run logs (not part of the model's digest: it decides no weights)."""
    return config["report_to"]
