"""Task2Vec's batches and alignment: which sequences each batch holds, and the coefficient with
its error bar from the batch embeddings (`dataalign.align.task2vec_embedding` computes them).

Error bars: the alignment's SE and CI resample the disjoint groups of sequences the batches are
cut from (`batch_rows`, `group_pair_mean`). With fewer than `MIN_GROUPS` groups on a side they
are NaN and the row's `note` says why; from there on the CI is a t interval with df = groups - 1.
Nothing here loads torch: the config checks and the selection strategies read it too.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
import pandas as pd

from dataalign.align.stats import (
    LEVEL,
    RESAMPLES,
    Alignment,
    all_pairs,
    pair_mean,
    swap_for_symmetry,
)
from dataalign.plugins import defaults_of, option

log = logging.getLogger(__name__)

# The plug-in's options under `alignment.task2vec` (`dataalign.align.metrics.task2vec`), and
# `Task2VecOptions`' defaults: the probe's name and the fine-tuning settings, written once.
OPTIONS = {
    "probe": option("gpt2", "name under `models:` of the probe causal LM", type="string"),
    "mode": option(
        "reference",
        "`reference` reproduces the public code (quirks included); `corrected` fixes them and"
        " is faster (docs/methods.md, Alignment coefficients)",
        enum=["reference", "corrected"],
    ),
    "batch_size": option(
        512,
        "sequences per batch (the paper: 512); must not exceed the subset's examples",
        type="integer",
        minimum=1,
    ),
    "seq_len": option(
        128,
        "tokens per sequence (padded/truncated, no packing)",
        type="integer",
        minimum=2,
    ),
    "batches": option(
        100,
        "batches per dataset. One seeded shuffle is cut into ⌊sequences / batch_size⌋ "
        "disjoint groups and batch *k* holds group *k* mod that number: with enough sequences"
        " every batch is new data; with fewer, a group is embedded again (new sampled labels)"
        " and the bootstrap draws groups, each with all its batches",
        type="integer",
        minimum=1,
    ),
    "epochs": option(5, "head fine-tuning epochs before the Fisher", type="integer", minimum=0),
    "minibatch": option(
        8,
        "minibatch size for fine-tuning and the Fisher",
        type="integer",
        minimum=1,
    ),
    "lr": option(5e-05, "AdamW's learning rate for the head", type="number", exclusiveMinimum=0),
    "eps": option(1e-08, "AdamW's epsilon", type="number", exclusiveMinimum=0),
    "weight_decay": option(0.0001, "AdamW's weight decay", type="number", minimum=0),
    "seed": option(
        0,
        "base seed of batches, dropout, sampled labels and the bootstrap",
        type="integer",
        minimum=0,
    ),
    "include_head": option(
        True,
        "`corrected` only: the untied head's vocabulary block enters the embedding (`false` "
        "leaves it out); in `reference` mode the tied head enters through the input "
        "embedding, as in the reference code",
        type="boolean",
    ),
}
TASK2VEC_DEFAULTS = defaults_of(OPTIONS)  # the reference's
# Groups of sequences per side below which Task2Vec reports no SE/CI (NaN, with a note). With 2
# / 3 groups the plain cluster bootstrap's 95% CI covered 65% / 82% of two-way simulations (55%
# / 74% when one side carries the spread), one group gave an SE of 0; at 8 its corrected t
# interval covers 97% (95%) (tests/unit/test_align.py).
MIN_GROUPS = 8


@dataclass(frozen=True)
class Task2VecOptions:
    """How batches are drawn and the probe is fine-tuned (defaults: the plug-in's `OPTIONS`)."""

    mode: Literal["reference", "corrected"] = TASK2VEC_DEFAULTS["mode"]
    batch_size: int = TASK2VEC_DEFAULTS["batch_size"]
    seq_len: int = TASK2VEC_DEFAULTS["seq_len"]
    batches: int = TASK2VEC_DEFAULTS["batches"]
    epochs: int = TASK2VEC_DEFAULTS["epochs"]
    minibatch: int = TASK2VEC_DEFAULTS["minibatch"]
    lr: float = TASK2VEC_DEFAULTS["lr"]
    eps: float = TASK2VEC_DEFAULTS["eps"]
    weight_decay: float = TASK2VEC_DEFAULTS["weight_decay"]
    seed: int = TASK2VEC_DEFAULTS["seed"]
    include_head: bool = TASK2VEC_DEFAULTS["include_head"]  # corrected mode: untied head rows


def batch_rows(n_texts: int, options: Task2VecOptions) -> list[np.ndarray]:
    """Which texts each of the `batches` batches holds: disjoint groups, reused when they run out.

    One shuffle (seeded) is cut into n_texts // batch_size disjoint groups; batch k holds group
    k mod that number. With enough texts every batch is new data; with fewer, a group is
    embedded again (new probe noise and sampled labels, the same sequences), so a resample of
    the data draws groups, each with all its batches (`batch_groups`). The error bar needs
    min(batches, n_texts // batch_size) >= `MIN_GROUPS` on both sides (`group_pair_mean`).
    """
    groups = n_texts // options.batch_size
    order = np.random.default_rng(options.seed).permutation(n_texts)
    return [
        order[(k % groups) * options.batch_size : (k % groups + 1) * options.batch_size]
        for k in range(options.batches)
    ]


def batch_groups(rows: Sequence[Sequence[int]]) -> np.ndarray:
    """A group id per batch: batches holding the same sequences share one."""
    return pd.factorize(pd.Series([tuple(sorted(batch)) for batch in rows]))[0]


def warn_few_groups(n_texts: int, options: Task2VecOptions, name: str) -> None:
    """Log, before any probe work, when batches re-embed sequences or too few groups form.

    Subset sizes in sequences are first known here (the config gives budgets in tokens), so
    this is where a subset that cannot form `batches` or `MIN_GROUPS` groups is reported.
    """
    groups = n_texts // options.batch_size
    distinct = min(groups, options.batches)
    said = []
    if options.batches > groups:
        said.append(
            f"{options.batches} batches re-embed its {groups} disjoint group(s) of "
            f"{options.batch_size} (probe noise, no new data)"
        )
    if distinct < MIN_GROUPS:
        largest = n_texts // MIN_GROUPS
        fix = (
            f"batch_size <= {largest} with batches >= {MIN_GROUPS}"
            if largest
            else "a subset of more sequences"
        )
        said.append(
            f"{distinct} group(s) < {MIN_GROUPS}: its Task2Vec alignments get no SE/CI (NaN). "
            f"Fix: alignment.task2vec {fix}"
        )
    if said:
        log.warning("%s: %d sequences; %s", name, n_texts, "; ".join(said))


def task2vec_distance(h0: np.ndarray, h1: np.ndarray) -> float:
    """Cosine distance between h0/(h0+h1+1e-8) and h1/(h0+h1+1e-8), the Task2Vec normalisation."""
    h0, h1 = np.asarray(h0, dtype=np.float64), np.asarray(h1, dtype=np.float64)
    total = h0 + h1 + 1e-8
    a, b = h0 / total, h1 / total
    return float(1.0 - a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def distance_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Task2Vec distances between every batch embedding of `a` and every one of `b`."""
    return np.array([[task2vec_distance(x, y) for y in b] for x in a])


def group_pair_mean(
    values: np.ndarray,
    groups: tuple[np.ndarray | None, np.ndarray | None] = (None, None),
    resamples: int = RESAMPLES,
    seed: int = 0,
    n: int | None = None,
    level: float = LEVEL,
    train_side: int | None = None,
) -> Alignment:
    """Mean of a batch x batch matrix of pair values, with an SE and CI from its groups.

    Each side's batches carry a group id (`groups`, None: every batch its own group). The SE is
    the cluster bootstrap's (`pair_mean`, groups drawn with their batches) times sqrt(m/(m-1)),
    m the fewer groups of the two sides: a bootstrap over m clusters reports (m-1)/m of a
    mean's variance. The CI is value +- t(df = m - 1) x SE: m - 1 is the smaller side's df, a
    lower bound on the two sides' combined (Welch) df, so the interval errs wide, not narrow.
    Below `MIN_GROUPS` groups on a side, se/ci_low/ci_high are NaN and `note` says why (and
    a warning is logged): at 2 / 3 groups the plain bootstrap's CI covered 65% / 82%. With
    `train_side` (0: rows, 1: columns), `train_se` resamples that side's groups alone, corrected
    by its own group count (`pair_mean`); it needs `MIN_GROUPS` on the train side only.
    """
    from scipy.stats import t as student

    values = np.asarray(values, dtype=np.float64)
    sides = [
        np.arange(size) if g is None else np.asarray(g)
        for g, size in zip(groups, values.shape, strict=True)
    ]
    counts = [len(np.unique(side)) for side in sides]
    fewest = min(counts)
    pairs = all_pairs(*values.shape)

    def bootstrap() -> Alignment:
        return pair_mean(
            values.ravel(), *pairs, *values.shape, resamples, seed, tuple(sides), n, train_side
        )

    if fewest < MIN_GROUPS:
        note = (
            f"{counts[0]} and {counts[1]} groups of sequences: fewer than {MIN_GROUPS} on a side, "
            "so no SE or CI"
        )
        log.warning("Task2Vec alignment %.4f: %s", values.mean(), note)
        nan = float("nan")
        examples = n if n is not None else sum(values.shape)
        # a train side with enough groups still has its own error bar against a small benchmark
        train_ok = train_side is not None and counts[train_side] >= MIN_GROUPS
        train = bootstrap() if train_ok else Alignment(nan, nan, nan, nan, nan, 0)
        mean, spread = float(values.mean()), float(values.std())
        return Alignment(
            mean,
            spread,
            nan,
            nan,
            nan,
            examples,
            note=note,
            train_se=train.train_se,
            train_df=train.train_df,
        )
    boot = bootstrap()
    se = boot.se * float(np.sqrt(fewest / (fewest - 1)))
    half = float(student.ppf((1 + level) / 2, fewest - 1)) * se
    return replace(boot, se=se, ci_low=boot.value - half, ci_high=boot.value + half)


def task2vec_alignment(
    train: np.ndarray,
    evaluation: np.ndarray,
    resamples: int = RESAMPLES,
    seed: int = 0,
    groups: tuple[np.ndarray | None, np.ndarray | None] = (None, None),
    n: int | None = None,
) -> Alignment:
    """1 - mean distance over all N x M batch pairs.

    The SE and CI resample the data, not the batch draw: each resample draws a side's groups
    of sequences (`groups`: a group id per batch, `batch_groups`; default every batch its own),
    each with all the batches embedded from it. Resampling batches that reuse sequences as if
    they were new data shrinks the error bar as more batches are drawn while the data stays
    the same. Fewer than `MIN_GROUPS` groups on a side: NaN SE/CI (`group_pair_mean`).
    `n`: the sequences read (default: the batches).
    """
    swapped = swap_for_symmetry(np.asarray(train).tobytes(), np.asarray(evaluation).tobytes())
    if swapped:
        train, evaluation, groups = evaluation, train, groups[::-1]
    values = 1.0 - distance_matrix(train, evaluation)
    return group_pair_mean(values, groups, resamples, seed, n, train_side=int(swapped))


def task2vec_diversity(
    embeddings: np.ndarray,
    resamples: int = RESAMPLES,
    seed: int = 0,
    independent: int | None = None,
) -> Alignment:
    """Mean distance over distinct batch pairs of one dataset (the diversity coefficient)."""
    i, j = np.triu_indices(len(embeddings), k=1)
    distances = distance_matrix(embeddings, embeddings)[i, j]
    return pair_mean(distances, i, j, len(embeddings), None, resamples, seed, (independent, None))
