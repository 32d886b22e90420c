"""A validated config as a plan of jobs: what the rules ask, answered in one place.

`Plan(config)` enumerates every distinct job once (each model trained once, each evaluation scored
once, however many experiments ask) and answers the rules' questions by wildcards: which inputs a
job reads, which config slice it receives (`params`), and how large it is (`Workload`). The
modules beneath it:

- `paths`: the one registry of artefact path patterns;
- `records`: output identities (a subset, a trained model, an evaluation, a panel scoring);
- `checks`: cross-reference checks run at parse time;
- `lookup`: reads of the config; `params`: each job's slice of it; `jobs`: the job enumeration.
"""

from __future__ import annotations

from typing import Any

from dataalign.align.metrics import registry as metric_registry
from dataalign.plan import paths
from dataalign.plan.jobs import (
    evaluation_runs,
    experiment_evaluations,
    harness_runs,
    panel_scorings,
    selection_panels,
    selections,
    trained_member,
    trained_model,
    training_runs,
)
from dataalign.plan.lookup import (
    Config,
    download_spec,
    eval_subset,
    experiments_of_kind,
    pool_parts,
    subset_parts,
    train_sets,
    train_subsets,
)
from dataalign.plan.params import (
    embed_settings,
    scan_params,
    selection_params,
    statistic_params,
)
from dataalign.plan.records import Evaluation, Selection
from dataalign.resources import Workload, training_tokens
from dataalign.select.strategies import strategy


class Plan:
    """Every job of a validated config, and the rules' lookups by wildcards."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.trainings = training_runs(config)
        self.evaluations = {e.name: e for e in evaluation_runs(config).values()}
        self.panel_scorings = panel_scorings(config)
        self.selections = selections(config)
        self.harness_runs = {
            (run.model, run.digest): run
            for name in experiments_of_kind(config, "panel")
            for run in harness_runs(config, name)
        }
        # Datasets with rows of their own (not mixtures): from the Hub, or offline.
        sourced = [d for d, entry in config["datasets"].items() if "mixture" not in entry]
        self.hub_datasets = [d for d in sourced if "hub" in download_spec(config, d)]
        self.offline_datasets = [d for d in sourced if d not in self.hub_datasets]

    # What `snakemake` with no target builds.

    def all_targets(self) -> list[str]:
        """Every experiment's tables, figures and evaluations (a panel's correlation table);
        a training experiment's cost per stage and training curves."""
        targets = []
        for name, experiment in self.config["experiments"].items():
            if experiment["kind"] == "panel":
                targets.append(paths.fill(paths.table("panel_correlation"), exp=name))
                continue
            stems = ["costs"] + (["selection"] if experiment["kind"] == "select" else [])
            metrics = experiment["metrics"]
            stems += [f"{table}_{m}" for table in ("alignment", "correlation") for m in metrics]
            targets += [paths.fill(paths.table(stem), exp=name) for stem in stems]
            targets.append(paths.fill(paths.plot("training_curves"), exp=name))
            if len(metrics) > 1:
                by_metric = paths.plot("alignment_vs_performance_by_metric")
                targets.append(paths.fill(by_metric, exp=name))
            targets += self.evaluations_of(name)
        for study in self.config["selection_studies"]:
            targets.append(paths.fill(paths.table("selection_study"), exp=study))
        return targets

    # Names a wildcard may take in one rule (so two rules never claim one output).

    def training_names(self, from_scratch: bool) -> list[str]:
        """The models pre-trained from scratch, or those fine-tuned."""
        return [n for n, run in self.trainings.items() if run.from_scratch == from_scratch]

    def metrics_on(self, gpu: bool) -> list[str]:
        """The alignment metrics that embed with a model (a GPU job), or without."""
        return sorted(name for name, m in metric_registry().items() if m.on_gpu == gpu)

    def strategies_on(self, gpu: bool) -> list[str]:
        """The strategies that score the pool with a model (a GPU job), or without."""
        methods = self.selections.values()
        return sorted({s.strategy for s in methods if strategy(s.method).on_gpu == gpu})

    def strategies_with_statistic(self) -> list[str]:
        """The strategies that sum a pool statistic over each shard before scoring."""
        return sorted(
            {s.strategy for s in self.selections.values() if strategy(s.method).statistic}
        )

    # Lookups by an output's wildcards.

    def evaluation(self, wildcards: Any) -> Evaluation:
        return self.evaluations[wildcards.evaluation]

    def selection(self, wildcards: Any) -> Selection:
        return self.selections[paths.fill(paths.SELECTED, **wildcards)]

    def evaluations_of(self, experiment: str) -> list[str]:
        """The shared evaluation files an experiment's tables gather."""
        return [e.path for e in experiment_evaluations(self.config, experiment)]

    # Input functions.

    def rows(self, datasets: Any) -> dict[str, str]:
        """Downloaded rows of each dataset, keyed `rows_{dataset}`."""
        return {f"rows_{ds}": paths.fill(paths.ROWS, ds=ds) for ds in datasets}

    def local_source(self, wildcards: Any) -> list[str]:
        """A local source file is an input, so editing it reruns the download."""
        from dataalign.io import find_installed

        path = download_spec(self.config, wildcards.ds).get("local", {}).get("path")
        return [str(find_installed(path) or path)] if path else []

    def subset_inputs(self, wildcards: Any) -> dict[str, str]:
        """Rows of the dataset, or of each part of a mixture, keyed by dataset name."""
        return {ds: paths.fill(paths.ROWS, ds=ds) for ds in subset_parts(self.config, wildcards.ds)}

    def training_inputs(self, wildcards: Any) -> dict[str, str]:
        """A model trains on its subset's memory-mapped token ids (the Parquet for its size)."""
        subset = self.trainings[wildcards.run].subset
        return {"subset": subset.path, "tokens": subset.tokens}

    def evaluation_inputs(self, wildcards: Any) -> dict[str, str]:
        """The eval subset and, for a trained model, its weights (so it is trained first)."""
        evaluation = self.evaluation(wildcards)
        inputs = {"subset": evaluation.subset.path}
        if evaluation.run in self.trainings:
            inputs["weights"] = self.trainings[evaluation.run].weights
        return inputs

    def alignment_inputs(self, wildcards: Any) -> dict[str, str]:
        """The cached embeddings of the eval subset and of every seed's train subset."""
        metric, exp = wildcards.metric, wildcards.exp
        return {
            "eval": eval_subset(self.config, exp, wildcards.eval).embedding(metric),
            **{
                f"train_{key.seed}": key.embedding(metric)
                for key in train_subsets(self.config, exp, wildcards.train)
            },
        }

    def pairs(self, experiment: str, metrics: list[str]) -> list[dict[str, str]]:
        """The wildcards of every metric and train x eval pair of an experiment."""
        return [
            {"exp": experiment, "metric": metric, "train": train, "eval": evaluation}
            for metric in metrics
            for train in train_sets(self.config, experiment)
            for evaluation in self.config["experiments"][experiment]["eval"]
        ]

    def alignment_pairs(self, experiment: str, metrics: list[str]) -> list[str]:
        """One alignment file per metric and train x eval pair of an experiment."""
        return [paths.fill(paths.ALIGNMENT, **pair) for pair in self.pairs(experiment, metrics)]

    def trained_weights(self, wildcards: Any) -> dict[str, str]:
        """A panel member this pipeline trains: its weights, so jobs that load it run after."""
        run = trained_member(self.config, wildcards.model)
        return {"weights": run.weights} if run else {}

    def panel_scoring_inputs(self, wildcards: Any) -> dict[str, str]:
        """Rows of every dataset the member scores, and a trained member's weights."""
        datasets = self.panel_scorings[wildcards.model].datasets
        return self.rows(datasets) | self.trained_weights(wildcards)

    def panel_results(self, wildcards: Any) -> dict[str, Any]:
        """Every member's scores (shared with other panels), and its lm-eval results or the
        user's benchmark table, if any; the candidate's rows where it was corrupted on purpose
        (they say which answers were planted)."""
        experiment = self.config["experiments"][wildcards.exp]
        table, candidate = experiment["benchmark_scores"], experiment["candidate"]
        return {
            "scores": [self.panel_scorings[model].path for model in experiment["models"]],
            "harness": [run.path for run in harness_runs(self.config, wildcards.exp)],
            "benchmark_scores": table if isinstance(table, str) else [],
            "candidate": (
                paths.fill(paths.ROWS, ds=candidate)
                if "shuffle" in self.config["datasets"][candidate]
                else []
            ),
        }

    def pool_scan_inputs(self, wildcards: Any) -> dict[str, str]:
        """Rows of the pool, the target and the benchmarks."""
        params = scan_params(self.config, wildcards.exp, int(wildcards.shard))
        datasets = [*params["pool"], *params["target"]]
        datasets += [part for parts in params["benchmarks"].values() for part in parts]
        return self.rows(dict.fromkeys(datasets))

    def pool_statistic_inputs(self, wildcards: Any) -> dict[str, str]:
        """Rows of the pool."""
        return self.rows(pool_parts(self.config, wildcards.exp))

    def pool_score_inputs(self, wildcards: Any) -> dict[str, Any]:
        """The shard's scan; rows of the pool and the target; every shard's statistic where the
        strategy needs one; for perplexity correlations, every panel member's scores (shared
        with the panels it sits on)."""
        selection = self.selection(wildcards)
        params = selection_params(self.config, wildcards.exp, wildcards.strategy, 0)
        members = selection_panels(self.config).get(selection.name, [])
        statistics = selection.per_shard(paths.POOL_STATISTIC)
        return (
            {"index": self.shard_file(wildcards, paths.POOL_INDEX)}
            | self.rows(dict.fromkeys([*params["pool"], *params["target"]]))
            | (
                {
                    "statistics": statistics,
                    "features": self.shard_file(wildcards, paths.POOL_FEATURES),
                }
                if strategy(selection.method).statistic
                else {}
            )
            | {f"panel_{model}": self.panel_scorings[model].path for model in members}
        )

    @staticmethod
    def shard_file(wildcards: Any, pattern: str) -> str:
        """`pattern` for the job's experiment, strategy and shard."""
        return paths.fill(
            pattern, exp=wildcards.exp, strategy=wildcards.strategy, shard=wildcards.shard
        )

    def choice_inputs(self, wildcards: Any) -> dict[str, Any]:
        """Every pool shard's scan and the strategy's scores of it, and the pool's rows (the
        chosen ones are written out)."""
        rows = self.rows(pool_parts(self.config, wildcards.exp))
        selection = self.selection(wildcards)
        return {"index": selection.per_shard(paths.POOL_INDEX), "scores": selection.scores} | rows

    def selection_summary_inputs(self, wildcards: Any) -> dict[str, list[str]]:
        """Every evaluation, alignment pair, selection report and chosen subset of a selection
        experiment (`choices` and `subsets` in the same order)."""
        exp = wildcards.exp
        keys = [
            key
            for train in train_sets(self.config, exp)
            for key in train_subsets(self.config, exp, train)
        ]
        return {
            "evaluations": self.evaluations_of(exp),
            "alignments": self.alignment_pairs(exp, self.config["experiments"][exp]["metrics"]),
            "scores": [
                report
                for s in self.selections.values()
                if s.experiment == exp
                for report in s.per_shard(paths.POOL_REPORT) + self.statistic_reports(s)
            ],
            "scans": self.pool_files(exp, paths.POOL_INDEX_REPORT),
            "choices": [key.choice for key in keys],
            "subsets": [key.path for key in keys],
        }

    def pool_files(self, experiment: str, pattern: str) -> list[str]:
        """A pool file of a selection experiment (`pattern`: a shard's scan or its report), one
        per shard."""
        shards = self.config["experiments"][experiment]["shards"]
        return [paths.fill(pattern, exp=experiment, shard=shard) for shard in range(shards)]

    def selection_benchmarks(self, experiment: str) -> list[str]:
        """The benchmark records of a select experiment's pool scans and every strategy's
        statistic and scoring jobs, shard by shard."""
        scans = self.pool_files(experiment, paths.benchmark("scan_pool", "{exp}/{shard}"))
        return scans + [
            path
            for s in self.selections.values()
            if s.experiment == experiment
            for rule in self.scoring_rules(s)
            for path in s.per_shard(paths.benchmark(rule, "{exp}/{strategy}/{shard}"))
        ]

    @staticmethod
    def scoring_rules(selection: Selection) -> list[str]:
        """The rules that score a strategy's pool shards, in run order."""
        method = strategy(selection.method)
        return ["pool_statistic"] * bool(method.statistic) + [
            "embed_pool" if method.on_gpu else "score_pool"
        ]

    @staticmethod
    def statistic_reports(selection: Selection) -> list[str]:
        """The reports of a strategy's pool statistic jobs, if it has any."""
        if strategy(selection.method).statistic is None:
            return []
        return selection.per_shard(paths.POOL_STATISTIC_REPORT)

    def selection_study_inputs(self, wildcards: Any) -> dict[str, list[str]]:
        """The selection tables of a study's experiments, in the study's order."""
        experiments = self.config["selection_studies"][wildcards.exp]
        return {"tables": [paths.fill(paths.table("selection"), exp=e) for e in experiments]}

    def training_logs(self, experiment: str) -> list[tuple[dict[str, Any], str]]:
        """Each model an experiment trains, labelled by train set and seed, with its loss log."""
        return [
            (
                {"train": train, "seed": seed},
                paths.fill(
                    paths.TRAIN_LOG, run=trained_model(self.config, experiment, train, seed).name
                ),
            )
            for train in train_sets(self.config, experiment)
            for seed in self.config["experiments"][experiment]["seeds"]
        ]

    def stage_benchmarks(self, experiment: str) -> dict[str, list[str]]:
        """The benchmark records of every job an experiment needs, by stage, in run order."""
        config, spec = self.config, self.config["experiments"][experiment]
        subsets = [
            key
            for ds in train_sets(config, experiment)
            for key in train_subsets(config, experiment, ds)
        ]
        subsets += [eval_subset(config, experiment, ds) for ds in spec["eval"]]
        cut = [key for key in subsets if key.dataset in config["datasets"]]  # not selected ones
        read = {part for key in cut for part in subset_parts(config, key.dataset)}
        if spec["kind"] == "select":
            read |= set(pool_parts(config, experiment))
        evaluations = experiment_evaluations(config, experiment)
        trained = dict.fromkeys(e.run for e in evaluations if e.run in self.trainings)
        stages = {
            "download": [
                paths.benchmark(
                    "download_dataset" if ds in self.hub_datasets else "read_dataset", ds
                )
                for ds in sorted(read)
            ],
            "subset": [
                paths.benchmark("subset", paths.fill(paths.SUBSET_KEY, **k.wildcards)) for k in cut
            ],
            "select": self.selection_benchmarks(experiment) if spec["kind"] == "select" else [],
            "embed": [
                paths.benchmark(
                    "embed" if metric_registry()[metric].on_gpu else "featurize",
                    paths.fill(paths.EMBEDDING_KEY, metric=metric, **key.wildcards),
                )
                for metric in spec["metrics"]
                for key in subsets
            ],
            "align": [
                paths.benchmark("align", paths.fill(paths.PAIR_KEY, **pair))
                for pair in self.pairs(experiment, spec["metrics"])
            ],
            "train": [
                paths.benchmark("pretrain" if self.trainings[run].from_scratch else "finetune", run)
                for run in trained
            ],
            "evaluate": [paths.benchmark("evaluate", e.name) for e in evaluations],
        }
        return {stage: files for stage, files in stages.items() if files}

    # What a model job loads and processes, to size its cluster resources.

    def training_workload(self, wildcards: Any) -> Workload:
        run = self.trainings[wildcards.run]
        tokens = training_tokens(run.params["options"], run.subset.budget_tokens)
        return Workload(run.params["model"]["entry"], tokens, training=True)

    def evaluation_workload(self, wildcards: Any) -> Workload:
        evaluation = self.evaluation(wildcards)
        base = self.trainings.get(evaluation.run)
        entry = base.params["model"]["entry"] if base else evaluation.params["model"]["entry"]
        return Workload(entry, evaluation.subset.budget_tokens)

    def member_workload(self, wildcards: Any) -> Workload:
        run = trained_member(self.config, wildcards.model)
        return Workload(
            run.params["model"]["entry"] if run else self.config["models"][wildcards.model]
        )

    def embed_workload(self, wildcards: Any) -> Workload:
        return _model_workload(embed_settings(self.config, wildcards.metric))

    def pool_embed_workload(self, wildcards: Any) -> Workload:
        settings = statistic_params(self.config, wildcards.exp, wildcards.strategy, 0)["settings"]
        return _model_workload(settings)


def _model_workload(settings: dict[str, Any]) -> Workload:
    """A probe or sentence model's inference."""
    return Workload((settings.get("probe") or settings["model"])["entry"])
