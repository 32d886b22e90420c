"""Stage costs: the benchmark records and loss logs of every job an experiment needs, which its
cost table and training curves read, and each predictor's (the experiment's models, its proxies,
its metrics) that its frontier table reads."""

from __future__ import annotations

from typing import Any

from dataalign.align.metrics import registry as metric_registry
from dataalign.analysis.frontier import TARGET
from dataalign.plan import paths
from dataalign.plan.jobs import (
    experiment_evaluations,
    proxy_evaluations,
    trained_evaluations,
    trained_model,
)
from dataalign.plan.jobset import JobSet
from dataalign.plan.lookup import (
    eval_subset,
    pool_parts,
    proxies,
    subset_parts,
    train_sets,
    train_subsets,
)
from dataalign.plan.records import Evaluation, SubsetKey


class StageCosts(JobSet):
    """Where each stage's jobs record their time and memory."""

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

    def experiment_subsets(self, experiment: str) -> list[SubsetKey]:
        """Every train subset (each seed's) of an experiment, then its eval subsets."""
        config, spec = self.config, self.config["experiments"][experiment]
        subsets = [
            key
            for ds in train_sets(config, experiment)
            for key in train_subsets(config, experiment, ds)
        ]
        return subsets + [eval_subset(config, experiment, ds) for ds in spec["eval"]]

    def stage_benchmarks(self, experiment: str) -> dict[str, list[str]]:
        """The benchmark records of every job an experiment needs, by stage, in run order."""
        config, spec = self.config, self.config["experiments"][experiment]
        subsets = self.experiment_subsets(experiment)
        cut = [key for key in subsets if key.dataset in config["datasets"]]  # not selected ones
        read = {part for key in cut for part in subset_parts(config, key.dataset)}
        if spec["kind"] == "select":
            read |= set(pool_parts(config, experiment))
        evaluations = experiment_evaluations(config, experiment)
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
                path
                for metric in spec["metrics"]
                for path in self.embed_benchmarks(subsets, metric)
            ],
            "align": [
                path
                for metric in spec["metrics"]
                for path in self.align_benchmarks(experiment, metric)
            ],
            **self.run_benchmarks(evaluations),
        }
        return {stage: files for stage, files in stages.items() if files}

    @staticmethod
    def embed_benchmarks(subsets: list[SubsetKey], metric: str) -> list[str]:
        """The records of the jobs that embed (or featurize) `subsets` under `metric`."""
        rule = "embed" if metric_registry()[metric].on_gpu else "featurize"
        return [
            paths.benchmark(rule, paths.fill(paths.EMBEDDING_KEY, metric=metric, **key.wildcards))
            for key in subsets
        ]

    def align_benchmarks(self, experiment: str, metric: str) -> list[str]:
        """The records of an experiment's align jobs under `metric`, one per pair."""
        return [
            paths.benchmark("align", paths.fill(paths.PAIR_KEY, **pair))
            for pair in self.pairs(experiment, [metric])
        ]

    def run_benchmarks(self, evaluations: list[Evaluation]) -> dict[str, list[str]]:
        """The records of training the models `evaluations` score (each once) and of scoring."""
        trained = dict.fromkeys(e.run for e in evaluations if e.run in self.trainings)
        return {
            "train": [
                paths.benchmark("pretrain" if self.trainings[run].from_scratch else "finetune", run)
                for run in trained
            ],
            "evaluate": [paths.benchmark("evaluate", e.name) for e in evaluations],
        }

    def selection_benchmarks(self, experiment: str) -> list[str]:
        """The benchmark records of a select experiment's pool scans and every strategy's
        statistic and scoring jobs, shard by shard."""
        scans = self.pool_files(experiment, paths.benchmark("scan_pool", paths.SHARD_KEY))
        return scans + [
            path
            for s in self.selections.values()
            if s.experiment == experiment
            for rule in self.scoring_rules(s)
            for path in s.per_shard(paths.benchmark(rule, paths.STRATEGY_SHARD_KEY))
        ]

    def predictor_evaluations(self, experiment: str) -> dict[str, list[Evaluation]]:
        """The trained models' evaluations of an experiment (`TARGET`), then of each proxy."""
        return {
            TARGET: trained_evaluations(self.config, experiment),
            **{
                p: proxy_evaluations(self.config, experiment, p)
                for p in proxies(self.config, experiment)
            },
        }

    def frontier_inputs(self, wildcards: Any) -> dict[str, list[str]]:
        """Per predictor (the experiment's models, each proxy, each metric): what it scored, its
        jobs' benchmark records and, for trained ones, each run's weights and loss log (FLOPs)."""
        exp = wildcards.exp
        inputs = {}
        for name, evaluations in self.predictor_evaluations(exp).items():
            runs = list(dict.fromkeys(e.run for e in evaluations))
            inputs[f"scores_{name}"] = [e.path for e in evaluations]
            inputs[f"records_{name}"] = [
                p for ps in self.run_benchmarks(evaluations).values() for p in ps
            ]
            inputs[f"weights_{name}"] = [self.trainings[run].weights for run in runs]
            inputs[f"logs_{name}"] = [paths.fill(paths.TRAIN_LOG, run=run) for run in runs]
        subsets = self.experiment_subsets(exp)
        for metric in self.config["experiments"][exp]["metrics"]:
            points = paths.fill(paths.table(f"points_{metric}", "parquet"), exp=exp)
            inputs[f"scores_{metric}"] = [points]
            inputs[f"records_{metric}"] = self.embed_benchmarks(
                subsets, metric
            ) + self.align_benchmarks(exp, metric)
        return inputs
