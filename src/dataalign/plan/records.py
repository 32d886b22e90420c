"""Output identities: each artefact a job writes is named by what decides it, so experiments that
need the same one share it and an edited option gets a new name."""

from __future__ import annotations

from typing import Any, NamedTuple

from dataalign.digest import content_digest
from dataalign.plan import paths


def budget_tokens(budget: int | str) -> int | None:
    """A subset's budget (as the `{budget}` wildcard writes it) in tokens; `all`: None."""
    return None if budget == paths.ALL else int(budget)


class SubsetKey(NamedTuple):
    """One token-budget subset of a dataset (seed k is its k-th disjoint draw)."""

    tokenizer: str
    dataset: str
    budget: int | str
    seed: int

    @property
    def budget_tokens(self) -> int | None:
        """Its budget in tokens; None for `all` (the whole dataset: an eval benchmark)."""
        return budget_tokens(self.budget)

    @property
    def wildcards(self) -> dict[str, Any]:
        return {
            "tokenizer": self.tokenizer,
            "ds": self.dataset,
            "budget": self.budget,
            "seed": self.seed,
        }

    @property
    def path(self) -> str:
        return paths.fill(paths.SUBSET, **self.wildcards)

    @property
    def tokens(self) -> str:
        """Its token ids, EOS after each example, in a memory-mappable .npy (training reads it)."""
        return paths.fill(paths.SUBSET_TOKENS, **self.wildcards)

    @property
    def choice(self) -> str:
        """A selected subset's report of what was chosen."""
        return paths.fill(paths.CHOICE, **self.wildcards)

    def embedding(self, metric: str) -> str:
        """Where its embedding under `metric` is cached (computed once, shared by pairs)."""
        return paths.fill(paths.EMBEDDING, metric=metric, **self.wildcards)


class TrainedModel(NamedTuple):
    """One distinct trained model: decided by its base model, options and subset, not by who asks.

    Its name reads as what it is; the digest covers everything that decides the weights, so two
    experiments asking for the same model share it and an edited option gets a new folder.
    """

    model: str
    subset: SubsetKey
    params: dict[str, Any]

    @property
    def name(self) -> str:
        digest = content_digest({"params": self.params, "subset": self.subset})
        return paths.fill(paths.RUN, model=self.model, **self.subset.wildcards, digest=digest)

    @property
    def folder(self) -> str:
        return paths.fill(paths.MODEL, run=self.name)

    @property
    def weights(self) -> str:
        return paths.fill(paths.MODEL_WEIGHTS, run=self.name)

    @property
    def from_scratch(self) -> bool:
        """Pre-training starts from a fresh architecture; fine-tuning from pretrained weights."""
        return "architecture" in self.params["model"]["entry"]


class Evaluation(NamedTuple):
    """One model (trained, or an experiment's untrained base) scored on one eval subset."""

    run: str  # a TrainedModel name, or a base run for the untrained model
    subset: SubsetKey
    params: dict[str, Any]

    @property
    def name(self) -> str:
        digest = content_digest({"params": self.params, "subset": self.subset})
        return paths.fill(
            paths.EVALUATION_KEY, **self.subset.wildcards, run=self.run, digest=digest
        )

    @property
    def path(self) -> str:
        return paths.fill(paths.EVALUATION, evaluation=self.name)


class HarnessRun(NamedTuple):
    """One panel member's lm-evaluation-harness job for one panel's task settings."""

    model: str
    params: dict[str, Any]

    @property
    def digest(self) -> str:
        return content_digest(self.params)

    @property
    def path(self) -> str:
        return paths.fill(paths.LM_EVAL, model=self.model, digest=self.digest)


class PanelScoring(NamedTuple):
    """One panel member's job: every request of every panel it sits on, with one model load."""

    model: str
    params: dict[str, Any]

    @property
    def path(self) -> str:
        return paths.fill(paths.PANEL_SCORES, model=self.model, digest=content_digest(self.params))

    @property
    def datasets(self) -> list[str]:
        return sorted({request["dataset"] for request in self.params["requests"]})


class Selection(NamedTuple):
    """One strategy of a selection experiment: its pool scores, one file per pool shard
    (computed once for every seed), and the train set its choice becomes."""

    experiment: str
    strategy: str
    method: str
    shards: int
    owner: str  # what names its choice: the experiment, or a whole pool's `pool-{digest}`

    @property
    def name(self) -> str:
        """The experiment's strategy, `{exp}.{strategy}`: what its scoring jobs are found by."""
        return paths.fill(paths.SELECTED, exp=self.experiment, strategy=self.strategy)

    @property
    def train_set(self) -> str:
        """The train set its choice becomes: its name, or a whole pool's shared one."""
        return paths.fill(paths.SELECTED, exp=self.owner, strategy=self.strategy)

    def per_shard(self, pattern: str) -> list[str]:
        """`pattern` (a strategy's or the pool's file) for every shard, in pool order."""
        return [
            paths.fill(pattern, exp=self.experiment, strategy=self.strategy, shard=shard)
            for shard in range(self.shards)
        ]

    @property
    def scores(self) -> list[str]:
        return self.per_shard(paths.POOL_SCORES)
