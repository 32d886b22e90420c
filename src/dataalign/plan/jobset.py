"""The jobs of a validated config, each enumerated once, and their lookups by wildcards: the base
of the plan's input functions, stage costs and workloads."""

from __future__ import annotations

from typing import Any

from dataalign.plan import paths
from dataalign.plan.jobs import (
    evaluation_runs,
    experiment_evaluations,
    harness_runs,
    panel_scorings,
    selections,
    training_runs,
)
from dataalign.plan.lookup import Config, download_spec, experiments_of_kind, train_sets
from dataalign.plan.records import Evaluation, Selection
from dataalign.select.strategies import strategy


class JobSet:
    """Every distinct job of a validated config (each model trained once, each evaluation scored
    once, however many experiments ask), looked up by an output's wildcards."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.trainings = training_runs(config)
        self.evaluations = {e.name: e for e in evaluation_runs(config).values()}
        self.panel_scorings = panel_scorings(config)
        self.selections = selections(config)
        # Each chosen train set's selection: the first experiment's that asks (a whole-pool
        # choice is shared by every experiment with that pool, and made from the first's scan).
        self.choices: dict[str, Selection] = {}
        for selection in self.selections.values():
            self.choices.setdefault(selection.train_set, selection)
        self.harness_runs = {
            (run.model, run.digest): run
            for name in experiments_of_kind(config, "panel")
            for run in harness_runs(config, name)
        }
        # Datasets with rows of their own (not mixtures): from the Hub, or offline.
        sourced = [d for d, entry in config["datasets"].items() if "mixture" not in entry]
        self.hub_datasets = [d for d in sourced if "hub" in download_spec(config, d)]
        self.offline_datasets = [d for d in sourced if d not in self.hub_datasets]

    def evaluation(self, wildcards: Any) -> Evaluation:
        return self.evaluations[wildcards.evaluation]

    def selection(self, wildcards: Any) -> Selection:
        """An experiment's strategy, by its scoring jobs' wildcards."""
        return self.selections[paths.fill(paths.SELECTED, **wildcards)]

    def chosen(self, wildcards: Any) -> Selection:
        """The selection a select job's train set (`{exp}.{strategy}` wildcards) is chosen by."""
        return self.choices[paths.fill(paths.SELECTED, **wildcards)]

    def evaluations_of(self, experiment: str) -> list[str]:
        """The shared evaluation files an experiment's tables gather."""
        return [e.path for e in experiment_evaluations(self.config, experiment)]

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

    def pool_files(self, experiment: str, pattern: str) -> list[str]:
        """A pool file of a selection experiment (`pattern`: a shard's scan or its report), one
        per shard."""
        shards = self.config["experiments"][experiment]["shards"]
        return [paths.fill(pattern, exp=experiment, shard=shard) for shard in range(shards)]

    @staticmethod
    def shard_file(wildcards: Any, pattern: str) -> str:
        """`pattern` for the job's experiment, strategy and shard."""
        return paths.fill(
            pattern, exp=wildcards.exp, strategy=wildcards.strategy, shard=wildcards.shard
        )

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
