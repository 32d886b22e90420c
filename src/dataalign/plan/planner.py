"""The plan: a validated config's jobs, answering every question the rules ask."""

from __future__ import annotations

from dataalign.align.metrics import registry as metric_registry
from dataalign.plan import paths
from dataalign.plan.costs import StageCosts
from dataalign.plan.inputs import InputFunctions
from dataalign.plan.workloads import Workloads
from dataalign.select.strategies import strategy


class Plan(InputFunctions, StageCosts, Workloads):
    """Every job of a validated config, and the rules' lookups by wildcards: inputs
    (`InputFunctions`), the stages' cost records (`StageCosts`), job sizes (`Workloads`)."""

    def all_targets(self) -> list[str]:
        """Every experiment's tables, figures and evaluations (a panel's correlation table, an
        align experiment's alignment and ranking tables); a training experiment's cost per stage
        and training curves, and where it declares proxies its frontier and unigram tables."""
        targets = []
        for name, experiment in self.config["experiments"].items():
            if experiment["kind"] == "panel":
                targets.append(paths.fill(paths.table("panel_correlation"), exp=name))
                continue
            if experiment["kind"] == "align":
                stems = [f"alignment_{m}" for m in experiment["metrics"]] + ["ranking"]
                targets += [paths.fill(paths.table(stem), exp=name) for stem in stems]
                continue
            stems = ["costs"] + (["selection"] if experiment["kind"] == "select" else [])
            metrics = experiment["metrics"]
            stems += [f"{table}_{m}" for table in ("alignment", "correlation") for m in metrics]
            targets += [paths.fill(paths.table(stem), exp=name) for stem in stems]
            targets.append(paths.fill(paths.plot("training_curves"), exp=name))
            if len(metrics) > 1:
                by_metric = paths.plot("alignment_vs_performance_by_metric")
                targets.append(paths.fill(by_metric, exp=name))
            if experiment.get("proxies"):  # the compute-decision frontier
                stems = [paths.table("frontier"), paths.table("unigram"), paths.plot("frontier")]
                targets += [paths.fill(stem, exp=name) for stem in stems]
            targets += self.evaluations_of(name)
        for study in self.config["selection_studies"]:
            targets.append(paths.fill(paths.table("selection_study"), exp=study))
        return targets

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
        """The strategies that take a pool statistic over each shard before scoring."""
        return sorted(
            {s.strategy for s in self.selections.values() if strategy(s.method).statistic}
        )
