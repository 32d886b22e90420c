"""Workloads: what a model job loads and processes, to size its cluster resources."""

from __future__ import annotations

from typing import Any

from dataalign.plan.jobs import trained_member
from dataalign.plan.jobset import JobSet
from dataalign.plan.params import embed_settings, statistic_params
from dataalign.resources import Workload, training_tokens


class Workloads(JobSet):
    """Each model stage's `Workload`, by its wildcards."""

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
