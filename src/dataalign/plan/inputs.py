"""Input functions: which files a job reads, by its wildcards."""

from __future__ import annotations

from typing import Any

from dataalign.jobs import PANEL_INPUTS, ROWS_INPUTS, TRAIN_INPUTS, keyed
from dataalign.plan import paths
from dataalign.plan.jobs import (
    harness_runs,
    selection_panels,
    trained_evaluations,
    trained_member,
)
from dataalign.plan.jobset import JobSet
from dataalign.plan.lookup import (
    download_spec,
    eval_subset,
    pool_parts,
    subset_parts,
    train_sets,
    train_subsets,
)
from dataalign.plan.params import scan_params, selection_params
from dataalign.select.strategies import strategy


class InputFunctions(JobSet):
    """The rules' `input:` functions."""

    def rows(self, datasets: Any) -> dict[str, str]:
        """Downloaded rows of each dataset, keyed `rows_{dataset}`."""
        return keyed(ROWS_INPUTS, {ds: paths.fill(paths.ROWS, ds=ds) for ds in datasets})

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
        train = train_subsets(self.config, exp, wildcards.train)
        return {
            "eval": eval_subset(self.config, exp, wildcards.eval).embedding(metric),
            **keyed(TRAIN_INPUTS, {key.seed: key.embedding(metric) for key in train}),
        }

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
            | keyed(PANEL_INPUTS, {model: self.panel_scorings[model].path for model in members})
        )

    def choice_inputs(self, wildcards: Any) -> dict[str, Any]:
        """Every pool shard's scan and the strategy's scores of it, and the pool's rows (the
        chosen ones are written out)."""
        selection = self.chosen(wildcards)
        rows = self.rows(pool_parts(self.config, selection.experiment))
        return {"index": selection.per_shard(paths.POOL_INDEX), "scores": selection.scores} | rows

    def unigram_inputs(self, wildcards: Any) -> dict[str, list[str]]:
        """Every train subset's and eval subset's token ids (with the Parquet that vouches for
        them), in `params.unigram_params` order, and the experiment's trained models' scores."""
        exp = wildcards.exp
        spec = self.config["experiments"][exp]
        train = [
            k for ds in train_sets(self.config, exp) for k in train_subsets(self.config, exp, ds)
        ]
        evals = [eval_subset(self.config, exp, ds) for ds in spec["eval"]]
        return {
            "train_tokens": [k.tokens for k in train],
            "train_subsets": [k.path for k in train],
            "eval_tokens": [k.tokens for k in evals],
            "eval_subsets": [k.path for k in evals],
            "scores": [e.path for e in trained_evaluations(self.config, exp)],
        }

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

    def selection_study_inputs(self, wildcards: Any) -> dict[str, list[str]]:
        """The selection tables of a study's experiments (their Parquet copies, which fail on
        damage), in the study's order."""
        experiments = self.config["selection_studies"][wildcards.exp]
        table = paths.table("selection", "parquet")
        return {"tables": [paths.fill(table, exp=e) for e in experiments]}
