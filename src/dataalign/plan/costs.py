"""Stage costs: the benchmark records and loss logs of every job an experiment needs, which its
cost table and training curves read."""

from __future__ import annotations

from typing import Any

from dataalign.align.metrics import registry as metric_registry
from dataalign.plan import paths
from dataalign.plan.jobs import experiment_evaluations, trained_model
from dataalign.plan.jobset import JobSet
from dataalign.plan.lookup import eval_subset, pool_parts, subset_parts, train_sets, train_subsets


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
