"""Does the target model learn more than unigram statistics? Its benchmark loss beside the loss of
a unigram model fitted on the same train tokens.

A model that only learned which tokens are frequent in its train set ranks train sets by their
unigram overlap with the benchmark; alignment predicting *that* is a weaker claim. The unigram
model is add-1/2 smoothed (the Krichevsky-Trofimov estimator) over the tokenizer's whole
vocabulary and scores every benchmark token but the end-of-text separators, as the evaluation
scores every token of each text.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

PRIOR = 0.5  # pseudo-count of every vocabulary entry


def unigram_log_probs(train: np.ndarray, vocab_size: int, prior: float = PRIOR) -> np.ndarray:
    """Log-probability of every token id under the smoothed unigram model of `train`."""
    counts = np.bincount(np.asarray(train, dtype=np.int64), minlength=vocab_size) + prior
    return np.log(counts / counts.sum())


def unigram_ce(log_probs: np.ndarray, benchmark: np.ndarray, eos: int) -> float:
    """Mean nats per benchmark token (its separators left out) under `log_probs`."""
    scored = np.asarray(benchmark, dtype=np.int64)
    return float(-log_probs[scored[scored != eos]].mean())


def unigram_table(
    train: Mapping[tuple[str, int], np.ndarray],
    benchmarks: Mapping[str, np.ndarray],
    model: pd.DataFrame,
    vocab_size: int,
    eos: int,
) -> pd.DataFrame:
    """Per (train set, seed, benchmark): the unigram baseline's CE, the trained model's (`model`:
    its evaluations) and the margin (baseline - model: positive where the model beats it)."""
    rows = []
    for (name, seed), tokens in train.items():
        log_probs = unigram_log_probs(tokens, vocab_size)
        for benchmark, ids in benchmarks.items():
            rows.append(
                {
                    "train": name,
                    "seed": seed,
                    "eval": benchmark,
                    "unigram_ce": unigram_ce(log_probs, ids, eos),
                }
            )
    table = pd.DataFrame(rows).merge(
        model[["train", "seed", "eval", "ce"]], on=["train", "seed", "eval"], how="left"
    )
    table["margin"] = table["unigram_ce"] - table["ce"]
    return table


def unigram_markdown(table: pd.DataFrame, experiment: str) -> str:
    """The table and the sentence it supports: on how many cells the model beats its baseline."""
    beats = int((table["margin"] > 0).sum())
    worst = table.loc[table["margin"].idxmin()]
    summary = (
        f"The target model's benchmark CE is below its unigram baseline's in {beats} of "
        f"{len(table)} (train set, seed, benchmark) cells; the smallest margin is "
        f"{worst['margin']:.3f} nats ({worst['train']} seed {worst['seed']:.0f}, {worst['eval']})."
    )
    header = (
        f"# Does the target learn more than unigram statistics? ({experiment})\n\n"
        "Benchmark CE (nats per token) of each trained model (`ce`) and of an add-1/2 unigram "
        "model of the same train tokens (`unigram_ce`); `margin` = unigram_ce - ce.\n\n"
    )
    return header + summary + "\n\n" + table.to_markdown(index=False, floatfmt=".3f") + "\n"
