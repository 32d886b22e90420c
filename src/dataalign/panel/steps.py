"""The two jobs of a panel, as the workflow runs them: one member scores every request of every
panel it sits on (one model load), then each panel's tables compare the members' rankings."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from dataalign.errors import ModelSpecError
from dataalign.io import read_json, read_parquet
from dataalign.models import compute_dtype, load_model_and_tokenizer
from dataalign.panel.harness import harness_scores
from dataalign.panel.scoring import (
    PromptFormat,
    answer_loglik,
    build_prompts,
    example_scores,
    read_benchmark_scores,
    summarise_scores,
)
from dataalign.panel.stats import (
    example_signals,
    half_means,
    panel_correlations,
    panel_support,
    question_support,
    support_flags,
)

log = logging.getLogger(__name__)

COUNTS = ["answer_tokens", "answer_bytes", "examples", "windowed", "context_cut"]


def score_member(params: Mapping[str, Any], name: str, rows: Mapping[str, str]) -> pd.DataFrame:
    """One member's summed answer log-likelihood per example of every request, labelled by
    model, dataset, request digest and row."""
    requests = [  # every request's prompts first: a dataset too small fails before any scoring
        (
            request,
            build_prompts(
                read_parquet(rows[request["dataset"]]),
                PromptFormat(**request["prompt"]),
                request["examples"],
                request["seed"],
                request["dataset"],
                request.get("shift", 0),
            ),
        )
        for request in params["requests"]
    ]
    model, tokenizer = load_model_and_tokenizer(
        params["model"], params["tokenizer"], dtype=compute_dtype(params["precision"])
    )
    frames = []
    for request, prompts in requests:
        dataset = request["dataset"]
        scores = answer_loglik(
            model, tokenizer, prompts["context"], prompts["continuation"], params["batch_size"]
        )
        labels = {"model": name, "dataset": dataset, "request": request["request"]}
        for position, (column, value) in enumerate({**labels, "row": prompts["row"]}.items()):
            scores.insert(position, column, value)
        scores["answer"] = prompts["continuation"]
        frames.append(scores)
    return pd.concat(frames, ignore_index=True)


def panel_tables(
    panel: Mapping[str, Any],
    scores: pd.DataFrame,
    harness: Sequence[str],
    benchmark_scores: str | None,
    planted: set[int] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """A panel's score per member and benchmark (`summary`), the correlation table, the
    example-level signals and the question-support flags. `scores`: the members' scores (rows
    of other panels are left out by request digest); `harness`: one lm-eval result per member
    in panel order (or none); `benchmark_scores`: a user's table; `planted`: the candidate's
    rows corrupted on purpose, marked in both example tables."""
    scored = scores[scores["request"].isin(panel["requests"])]
    summary = [summarise_scores(scored, panel["kinds"])]
    for path, model in zip(harness, panel["models"] if harness else [], strict=True):
        summary.append(harness_scores(read_json(path), model, panel["metrics"], panel["tasks"]))
    if benchmark_scores:
        summary.append(read_benchmark_scores(benchmark_scores, panel["models"]))
    summary = pd.concat(summary, ignore_index=True)
    summary[COUNTS] = summary[COUNTS].astype("Int64")  # empty, not NaN, for lm-eval and CSV rows
    wide = summary.pivot(index="model", columns="benchmark", values="score")
    refuse_duplicate_members(wide)
    candidate, controls = panel["candidate"], panel["controls"]
    others = sorted(set(wide.columns) - {candidate, *controls} - set(panel["benchmarks"]))
    benchmarks = [*panel["benchmarks"], *others]
    per_example = pd.concat(
        [
            example_scores(rows, panel["kinds"][dataset])
            for dataset, rows in scored.groupby("dataset")
        ]
    )
    halves = half_means(per_example, list(wide.index), seed=panel["seed"])
    table = panel_correlations(
        wide,
        candidate,
        benchmarks,
        controls,
        panel["target"],
        panel["bootstrap"],
        panel["seed"],
        halves,
    )
    examples = per_example[per_example["dataset"] == candidate]
    compared = summary[summary["benchmark"].isin(benchmarks)]
    signals = example_signals(examples, compared, panel["flag_fdr"])
    support = support_table(panel["support"], scores, panel["flag_fdr"])
    if planted is not None:
        signals["planted"] = signals["row"].isin(planted)
        support["planted"] = support["row"].isin(planted)
    return summary, table, signals, support


def support_table(
    requests: Mapping[str, Sequence[str]], scores: pd.DataFrame, fdr: float
) -> pd.DataFrame:
    """The candidate's question-support flags, calibrated on the reference's answers where the
    panel has one; `requests`: role -> digests of the own-question and shifted requests."""
    if not requests:
        return pd.DataFrame(columns=["row", "support", "p_value", "q_value", "flagged", "answer"])

    members = {
        role: question_support(*(scores[scores["request"] == digest] for digest in pair))
        for role, pair in requests.items()
    }
    for role, matrix in members.items():
        log.info("mean question support per member, %s (bits/byte):\n%s", role, matrix.mean())
    candidate, reference, shares = panel_support(members["candidate"], members.get("reference"))
    log.info("members' shares of the panel's support:\n%s", shares.round(4))
    table = support_flags(candidate, reference, fdr)
    own = scores[scores["request"] == requests["candidate"][0]]
    answers = own.drop_duplicates("row").set_index("row")["answer"]
    return table.assign(answer=table["row"].map(answers))


def refuse_duplicate_members(wide: pd.DataFrame) -> None:
    """Two members with the same score on every dataset are one model listed twice (e.g. the
    same data trained under two names): it would count twice in every rank correlation and
    make its p-values too small."""
    duplicated = wide[wide.duplicated(keep=False)]
    if not duplicated.empty:
        first = duplicated.iloc[0]
        names = [model for model, row in duplicated.iterrows() if row.equals(first)]
        raise ModelSpecError(
            f"panel members {' and '.join(names)} score identically on every dataset: they are "
            "one model listed twice, which counts twice in every tau. Keep one of them in the "
            "panel's `models`."
        )
