"""Score a panel of models on question-answer data by the summed log-likelihood of the answers.

The second study (validating a candidate dataset before training on it): if the models that do
well on a trusted benchmark also find the candidate's answers likely, the candidate taps the
same skill. Log-likelihoods are summed over answer tokens, not averaged, because the panel's
tokenizers differ and a per-token mean would not be comparable across models.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from dataalign.errors import DatasetError
from dataalign.evaluate import padded_batch
from dataalign.subsets import PLACEHOLDER
from dataalign.train import context_length


@dataclass(frozen=True)
class PromptFormat:
    """How a question-answer row becomes a k-shot prompt and the answer continuation scored."""

    question: str = "Question: {question}\nAnswer:"
    answer: str = " {answer}"
    shots: int = 1
    separator: str = "\n\n"

    def fields(self) -> list[str]:
        """The row fields the two templates use, in order of appearance."""
        return list(dict.fromkeys(PLACEHOLDER.findall(self.question + self.answer)))


def build_prompts(
    rows: pd.DataFrame, prompt: PromptFormat, examples: int | None, seed: int, dataset: str
) -> pd.DataFrame:
    """`row`, `context` and `continuation` for `examples` rows of one fixed shuffle.

    The first `shots` rows of the shuffle are the demonstrations every prompt starts with (the
    same for every model); the next `examples` rows are scored.
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
    return pd.DataFrame(
        {
            "row": scored["row"].to_numpy(),
            "context": [demonstration + prompt.question.format(**r) for r in records],
            "continuation": [prompt.answer.format(**r) for r in records],
        }
    )


def answer_loglik(
    model, tokenizer, contexts: Sequence[str], continuations: Sequence[str], batch_size: int = 8
) -> pd.DataFrame:
    """Summed log-probability (nats) of each continuation given its context, and its length.

    Context and continuation are tokenised separately and joined, so the scored tokens are
    exactly the answer's; a too-long context loses tokens from its left.
    """
    limit = context_length(model) or 1 << 30
    pairs = []
    for context, continuation in zip(contexts, continuations, strict=True):
        head = tokenizer(context, verbose=False)["input_ids"]
        tail = tokenizer(continuation, add_special_tokens=False, verbose=False)["input_ids"]
        if not tail:
            raise DatasetError(f"an empty answer cannot be scored (context: {context[-80:]!r})")
        tail = tail[: limit - 1]
        pairs.append((head[-(limit - len(tail)) :], tail))
    order = sorted(range(len(pairs)), key=lambda i: -sum(map(len, pairs[i])))  # less padding
    logliks, device = [0.0] * len(pairs), next(model.parameters()).device
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    model.eval()
    with torch.no_grad():
        for start in tqdm(range(0, len(order), batch_size), desc="log-likelihood", unit="batch"):
            batch = order[start : start + batch_size]
            inputs, mask = padded_batch([pairs[i][0] + pairs[i][1] for i in batch], pad, device)
            logits = model(input_ids=inputs, attention_mask=mask).logits
            for row, i in enumerate(batch):
                head, tail = pairs[i]
                # normalise only the answer positions: the full batch x width x vocab is large
                answer = logits[row, len(head) - 1 : len(head) + len(tail) - 1].float()
                targets = torch.tensor(tail, device=device)[:, None]
                logliks[i] = float(F.log_softmax(answer, dim=-1).gather(1, targets).sum())
    return pd.DataFrame({"loglik": logliks, "n_answer_tokens": [len(tail) for _, tail in pairs]})


def read_benchmark_scores(path: str, models: Sequence[str]) -> pd.DataFrame:
    """A user's table of benchmark scores (columns model, benchmark, score) for the panel.

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
    return table[["model", "benchmark", "score"]].reset_index(drop=True)


def split_scores(
    scores: pd.DataFrame, candidate: str, supplied: pd.DataFrame | None = None
) -> tuple[pd.Series, pd.DataFrame]:
    """Summed answer log-likelihood per model and dataset: the candidate's, and the benchmarks'.

    Returns the candidate totals by model and a long table (model, benchmark, score) of every
    scored benchmark, plus the user's `supplied` scores when given.
    """
    summed = scores.groupby(["model", "dataset"], as_index=False)["loglik"].sum()
    summed = summed.rename(columns={"dataset": "benchmark", "loglik": "score"})
    totals = summed[summed["benchmark"] == candidate].set_index("model")["score"]
    benchmarks = summed[summed["benchmark"] != candidate]
    if supplied is not None:
        benchmarks = pd.concat([benchmarks, supplied], ignore_index=True)
    return totals, benchmarks.reset_index(drop=True)
