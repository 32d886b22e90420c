"""Score a panel of models on question-answer data by the log-likelihood of the answers.

The second study (validating a candidate dataset before training on it): if the models that do
well on a trusted benchmark also find the candidate's answers likely, the candidate taps the
same skill. Every model scores the same answer characters (joint tokenisation, sliding windows
where a prompt outgrows a model's window); the score is the summed log-likelihood (the blog's),
its per-token mean, or bits per byte, the one comparable across tokenizers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from dataalign.errors import DatasetError
from dataalign.schemas import defaults
from dataalign.templates import format_fields
from dataalign.train.evaluate import window_nll, windows
from dataalign.train.trainer import context_length

PANEL = defaults("panel_experiment")  # a panel's defaults (its scoring batch)


@dataclass(frozen=True)
class PromptFormat:
    """How a question-answer row becomes a k-shot prompt and the answer continuation scored."""

    question: str = "Question: {question}\nAnswer:"
    answer: str = " {answer}"
    shots: int = 1
    separator: str = "\n\n"

    def fields(self) -> list[str]:
        """The row fields the two templates use, in order of appearance."""
        return format_fields(self.question + self.answer)


def build_prompts(
    rows: pd.DataFrame,
    prompt: PromptFormat,
    examples: int | None,
    seed: int,
    dataset: str,
    shift: int = 0,
) -> pd.DataFrame:
    """`row`, `context` and `continuation` for `examples` rows of one fixed shuffle.

    The first `shots` rows of the shuffle are the demonstrations every prompt starts with (the
    same for every model); the next `examples` rows are scored. With `shift`, each answer
    follows the question of the scored row `shift` places later (cyclically) instead of its
    own: how likely an answer is after another question is the baseline of question support.
    """
    missing = [f for f in prompt.fields() if f not in rows.columns]
    if missing:
        raise DatasetError(
            f"dataset '{dataset}': the prompt templates use field(s) {missing} that the rows do "
            f"not have (columns: {[c for c in rows.columns if c != 'row']}). Fix: add them to "
            f"datasets.{dataset}.fields or change the experiment's prompt."
        )
    shuffled = rows.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    wanted = prompt.shots + (examples if examples is not None else len(shuffled))
    if len(shuffled) < prompt.shots + 1 or (examples is not None and len(shuffled) < wanted):
        raise DatasetError(
            f"dataset '{dataset}' has {len(shuffled)} rows; the panel needs {wanted} "
            f"({prompt.shots} shot(s) + {examples} scored). Fix: lower `examples` or `shots`."
        )
    shots, scored = shuffled.iloc[: prompt.shots], shuffled.iloc[prompt.shots : wanted]
    demonstration = "".join(
        prompt.question.format(**row) + prompt.answer.format(**row) + prompt.separator
        for row in shots.to_dict("records")
    )
    records = scored.to_dict("records")
    questions = records[shift % len(records) :] + records[: shift % len(records)]
    return pd.DataFrame(
        {
            "row": scored["row"].to_numpy(),
            "context": [demonstration + prompt.question.format(**r) for r in questions],
            "continuation": [prompt.answer.format(**r) for r in records],
        }
    )


def joint_tokens(tokenizer, context: str, continuation: str) -> tuple[list[int], int, int]:
    """Context and answer tokenised together: ids, index of the first answer token, and the
    character where the scored text starts.

    As lm-eval's `loglikelihood`: trailing whitespace moves from the context to the answer and
    the joint string is split at the first token reaching past the context, so the answer's
    tokens are the ones the model produces in running text. A tokenizer that adds no BOS gets
    one (or its EOS) before an empty context, so the first answer token is predicted too.
    """
    if not getattr(tokenizer, "is_fast", False):
        raise DatasetError(
            f"tokenizer {type(tokenizer).__name__} gives no character offsets; the panel needs "
            "a fast (Rust) tokenizer to split context and answer. Fix: load it with use_fast."
        )
    spaces = len(context) - len(context.rstrip())
    if spaces:
        context, continuation = context[:-spaces], context[-spaces:] + continuation
    if not continuation:
        raise DatasetError(f"an empty answer cannot be scored (context: {context[-80:]!r})")
    encoded = tokenizer(context + continuation, return_offsets_mapping=True, verbose=False)
    ids, offsets = list(encoded["input_ids"]), list(encoded["offset_mapping"])
    first = next((i for i, (_, end) in enumerate(offsets) if end > len(context)), len(ids))
    if first == len(ids):
        raise DatasetError(
            f"the answer {continuation!r} gives no token of its own (context: {context[-80:]!r})"
        )
    if first == 0:
        specials = (tokenizer.bos_token_id, tokenizer.eos_token_id)
        prefix = next((token for token in specials if token is not None), None)
        if prefix is None:
            raise DatasetError(
                "an answer with no context needs a BOS or EOS token to condition on; the "
                "tokenizer has neither. Fix: give the prompt a question template."
            )
        ids, offsets, first = [prefix, *ids], [(0, 0), *offsets], 1
    return ids, first, min(offsets[first][0], len(context))


def answer_loglik(
    model,
    tokenizer,
    contexts: Sequence[str],
    continuations: Sequence[str],
    batch_size: int = PANEL["batch_size"],
) -> pd.DataFrame:
    """Per example: summed log-probability (nats) of the answer given its context, the answer's
    tokens and UTF-8 bytes, the prompt tokens and how many of them the model saw, and windows.

    Every answer token is scored whatever the model's window: a prompt longer than the window
    is scored with a sliding window over the answer (each token with at least half a window
    before it), so every model scores the same answer characters.
    """
    limit = context_length(model) or 1 << 30
    work, owner, rows = [], [], []
    for context, continuation in zip(contexts, continuations, strict=True):
        ids, first, scored_from = joint_tokens(tokenizer, context, continuation)
        if len(ids) <= limit:
            spans = [(ids, [-100] * first + ids[first:])]
        else:
            spans = list(windows(ids, limit, max(limit // 2, 1), first))
        context_seen = next(i for i, label in enumerate(spans[0][1]) if label != -100)
        rows.append(
            {
                "n_answer_tokens": len(ids) - first,
                "n_answer_bytes": len((context + continuation)[scored_from:].encode()),
                "n_context_tokens": first,
                "n_context_seen": context_seen,
                "n_windows": len(spans),
            }
        )
        owner += [len(rows) - 1] * len(spans)
        work += spans
    nll = window_nll(model, tokenizer, work, batch_size, "log-likelihood")
    table = pd.DataFrame(rows)
    table.insert(0, "loglik", -pd.Series(nll).groupby(owner).sum().to_numpy())
    return table


def read_benchmark_scores(path: str, models: Sequence[str]) -> pd.DataFrame:
    """A user's table of benchmark scores (columns model, benchmark, score; higher is better).

    Rows for models outside the panel are ignored; a panel model missing from a benchmark is
    an error, since a rank correlation over a silently smaller panel would mislead.
    """
    table = pd.read_csv(path)
    missing_columns = {"model", "benchmark", "score"} - set(table.columns)
    if missing_columns:
        raise DatasetError(
            f"benchmark_scores '{path}': missing column(s) {sorted(missing_columns)}; the file "
            f"has {list(table.columns)}. Fix: one row per model and benchmark with a score."
        )
    table = table[table["model"].isin(models)]
    for benchmark, group in table.groupby("benchmark"):
        absent = sorted(set(models) - set(group["model"]))
        if absent:
            raise DatasetError(
                f"benchmark_scores '{path}': benchmark {benchmark!r} has no score for panel "
                f"model(s) {absent}. Fix: add them, or drop them from the panel."
            )
    table = table.assign(kind="supplied", value=table["score"])
    return table[["model", "benchmark", "kind", "value", "score"]].reset_index(drop=True)


SCORES = {  # what each score is, for tables and axes; bits per byte is lower-is-better
    "loglik": "summed answer log-likelihood (nats)",
    "mean_loglik": "answer log-likelihood per token (nats)",
    "bits_per_byte": "bits per answer byte",
}


def score_value(loglik, tokens, n_bytes, kind: str):
    """A score of `kind` (see SCORES) from summed log-likelihood, answer tokens and bytes.

    Only bits per byte compares models with different tokenizers; the summed log-likelihood
    is the blog's.
    """
    if kind == "loglik":
        return loglik
    if kind == "mean_loglik":
        return loglik / tokens
    return -loglik / (np.log(2) * n_bytes)


def oriented(value, kind: str):
    """The score with higher meaning better, as every correlation takes it."""
    return -value if kind == "bits_per_byte" else value


def summarise_scores(scores: pd.DataFrame, kinds: Mapping[str, str]) -> pd.DataFrame:
    """Per model and dataset: the score of the dataset's kind and what was scored to get it.

    `value` is the score as named, `score` the same oriented so that higher is better; then
    the answer tokens and bytes scored, examples, examples scored in more than one window,
    and examples whose prompt did not fit whole in the model's window (`context_cut`).
    """
    flagged = scores.assign(
        windowed=scores["n_windows"] > 1,
        context_cut=scores["n_context_seen"] < scores["n_context_tokens"],
    )
    table = flagged.groupby(["model", "dataset"], as_index=False).agg(
        loglik=("loglik", "sum"),
        answer_tokens=("n_answer_tokens", "sum"),
        answer_bytes=("n_answer_bytes", "sum"),
        examples=("loglik", "size"),
        windowed=("windowed", "sum"),
        context_cut=("context_cut", "sum"),
    )
    table = table.rename(columns={"dataset": "benchmark"})
    table.insert(2, "kind", table["benchmark"].map(kinds))
    values = [
        score_value(r.loglik, r.answer_tokens, r.answer_bytes, r.kind) for r in table.itertuples()
    ]
    table.insert(3, "value", values)
    table.insert(4, "score", [oriented(v, k) for v, k in zip(values, table["kind"], strict=True)])
    return table


def example_scores(scores: pd.DataFrame, kind: str) -> pd.DataFrame:
    """Per model and example, its oriented score of `kind` (for the example-level signal)."""
    value = score_value(scores["loglik"], scores["n_answer_tokens"], scores["n_answer_bytes"], kind)
    return scores.assign(score=oriented(value, kind))
