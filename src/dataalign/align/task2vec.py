"""Task2Vec embeddings of text datasets: the diagonal Fisher of a probe LM, one per batch.

Two modes (see README "Task2Vec modes"):
- `reference` reproduces the public reference code, quirks included, so numbers are comparable
  with published ones: train mode, tied head fine-tuning by full passes, labels sampled at t+1
  scored against logits at t, padding unmasked.
- `corrected` fine-tunes an untied copy of the head on hidden states computed once (the body is
  frozen), then takes the exact Fisher of one sequence: the mean over sequences of squared
  per-sequence gradients of the token-summed log-likelihood, y_t ~ p(. | x<=t) scored at t,
  padding masked, eval mode, the head block included (`include_head`). It does not depend on
  how a batch is split into minibatches (see `dataalign.align.fisher`).

Error bars: the alignment's SE and CI resample the disjoint groups of sequences the batches are
cut from (`batch_rows`, `group_pair_mean`). With fewer than `MIN_GROUPS` groups on a side they
are NaN and the row's `note` says why; from there on the CI is a t interval with df = groups - 1.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from dataalign.align.fisher import nll_logit_gradient, per_sequence_row_fisher
from dataalign.align.stats import (
    LEVEL,
    RESAMPLES,
    Alignment,
    all_pairs,
    pair_mean,
    swap_for_symmetry,
)
from dataalign.errors import DatasetError
from dataalign.io import ParquetColumn
from dataalign.schemas import defaults

log = logging.getLogger(__name__)
Batch = dict[str, torch.Tensor]
LabelSampler = Callable[[torch.Tensor], torch.Tensor]


TASK2VEC_DEFAULTS = defaults("task2vec")  # the reference's, as the config schema gives them
# Groups of sequences per side below which Task2Vec reports no SE/CI (NaN, with a note). With 2
# / 3 groups the plain cluster bootstrap's 95% CI covered 65% / 82% of two-way simulations (55%
# / 74% when one side carries the spread), one group gave an SE of 0; at 8 its corrected t
# interval covers 97% (95%) (tests/unit/test_align.py).
MIN_GROUPS = 8


@dataclass(frozen=True)
class Task2VecOptions:
    """How batches are drawn and the probe is fine-tuned (defaults: the config schema's)."""

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


def draw_batches(
    texts: Sequence[str] | ParquetColumn, tokenizer, options: Task2VecOptions, name: str
) -> list[Batch]:
    """`batches` batches of `batch_size` sequences padded/truncated to `seq_len` tokens.

    The batches hold the texts `batch_rows` names (no packing). Only the texts drawn are
    tokenised, so a pre-training subset costs what its batches cost.
    """
    if len(texts) < options.batch_size:
        raise DatasetError(
            f"dataset '{name}' has {len(texts)} sequences, fewer than one Task2Vec batch "
            f"({options.batch_size}). Fix: lower alignment.task2vec.batch_size or raise the budget."
        )
    warn_few_groups(len(texts), options, name)
    chosen = batch_rows(len(texts), options)
    drawn = np.unique(np.concatenate(chosen))
    encoded = tokenizer(
        texts.take(drawn) if isinstance(texts, ParquetColumn) else [texts[i] for i in drawn],
        padding="max_length",
        padding_side="right",
        truncation=True,
        max_length=options.seq_len,
        return_tensors="pt",
    )
    batches = []
    for picks in chosen:
        rows = torch.from_numpy(np.searchsorted(drawn, picks))
        batches.append({k: encoded[k][rows] for k in ("input_ids", "attention_mask")})
    return batches


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


def sample_labels(logits: torch.Tensor) -> torch.Tensor:
    """One label per position drawn from softmax(logits): the Monte Carlo Fisher's targets.

    By inverting the cumulative distribution (one uniform per position), several times faster
    than torch.multinomial over a 50k vocabulary.
    """
    cumulative = torch.softmax(logits.detach().float(), dim=-1).cumsum(dim=-1)
    uniform = torch.rand(*cumulative.shape[:-1], 1, device=logits.device) * cumulative[..., -1:]
    labels = torch.searchsorted(cumulative, uniform).squeeze(-1)
    return labels.clamp_max(logits.shape[-1] - 1)


def minibatches(batch: Batch, size: int) -> Iterator[Batch]:
    """Consecutive minibatches in order (the reference does not shuffle)."""
    total = batch["input_ids"].shape[0]
    for start in range(0, total, size):
        yield {k: v[start : start + size] for k, v in batch.items()}


def by_length(batch: Batch, size: int) -> Iterator[tuple[torch.Tensor, Batch]]:
    """Minibatches of the longest sequences first, each cut to its longest real sequence.

    Yields (rows of `batch`, minibatch). With right padding nothing real attends to a padded
    position, so per-sequence results are the same while padding costs no compute.
    """
    lengths = batch["attention_mask"].sum(dim=1)
    order = torch.argsort(lengths, descending=True, stable=True)
    for start in range(0, len(order), size):
        rows = order[start : start + size]
        longest = max(int(lengths[rows].max()), 1)
        yield rows, {k: v[rows, :longest] for k, v in batch.items()}


def reference_finetune_head(model: nn.Module, batch: Batch, options: Task2VecOptions) -> None:
    """Fine-tune only the output embedding, tied to the input one, by full passes in train mode."""
    model.train()
    head = model.get_output_embeddings().weight
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    head.requires_grad_(True)
    optimizer = torch.optim.AdamW(
        [head], lr=options.lr, eps=options.eps, weight_decay=options.weight_decay
    )
    for _ in range(options.epochs):
        for mb in minibatches(batch, options.minibatch):
            logits = model(**mb).logits
            labels = mb["input_ids"][:, 1:].masked_fill(mb["attention_mask"][:, 1:] == 0, -100)
            loss = F.cross_entropy(logits[:, :-1].flatten(0, 1), labels.flatten())
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    for parameter in model.parameters():
        parameter.requires_grad_(True)


def reference_fisher(
    model: nn.Module, batch: Batch, options: Task2VecOptions, sampler: LabelSampler = sample_labels
) -> dict[int, torch.Tensor]:
    """Mean over minibatches of grad^2 of the reference's Monte Carlo loss (by parameter id).

    Labels sampled at every position are shifted by one (position t is scored against a label
    drawn from t+1's distribution) and padded positions count, as in the reference code.
    """
    model.train()
    fisher: dict[int, torch.Tensor] = {}
    count = 0
    for mb in minibatches(batch, options.minibatch):
        model.zero_grad(set_to_none=True)
        logits = model(**mb).logits
        labels = sampler(logits)
        F.cross_entropy(logits[:, :-1].flatten(0, 1), labels[:, 1:].flatten()).backward()
        for parameter in model.parameters():
            if parameter.grad is not None:
                grad = parameter.grad.detach().float()
                if id(parameter) in fisher:
                    fisher[id(parameter)].addcmul_(grad, grad)
                else:
                    fisher[id(parameter)] = grad * grad
        count += 1
    model.zero_grad(set_to_none=True)
    return {key: value / count for key, value in fisher.items()}


HEAD_CHUNK = 1 << 23  # logits per chunk of the head fit (32 MB in fp32): cache-sized passes


def body_states(model: nn.Module, batch: Batch, options: Task2VecOptions) -> list[torch.Tensor]:
    """Each sequence's last hidden states at the positions that have a next token.

    One forward pass of the body without gradients, longest sequences first, padding cut off.
    """
    model.eval()
    lengths = batch["attention_mask"].sum(dim=1).tolist()
    states: list[torch.Tensor] = [torch.empty(0)] * len(lengths)
    with torch.no_grad():
        for rows, mb in by_length(batch, options.minibatch):
            hidden = model.base_model(**mb).last_hidden_state
            for k, row in enumerate(rows.tolist()):
                states[row] = hidden[k, : max(lengths[row] - 1, 0)]
    return states


def head_gradient(head: nn.Linear, inputs: torch.Tensor, targets: torch.Tensor) -> None:
    """Set the head's .grad to the gradient of the mean next-token cross-entropy, in closed form.

    (softmax - one-hot)^T inputs / N, built a chunk of positions at a time so each vocabulary-
    wide block stays in cache: the same gradient autograd gives, at about half its cost.
    """
    weight, bias = head.weight, head.bias
    weight.grad = torch.zeros_like(weight)
    bias_grad = torch.zeros_like(bias) if bias is not None else None
    step = max(HEAD_CHUNK // weight.shape[0], 1)
    for start in range(0, len(targets), step):
        x = inputs[start : start + step]
        grad = nll_logit_gradient(F.linear(x, weight, bias), targets[start : start + step])
        grad.div_(len(targets))
        weight.grad.addmm_(grad.T, x)
        if bias_grad is not None:
            bias_grad += grad.sum(dim=0)
    if bias is not None:
        bias.grad = bias_grad


def fit_head(
    head: nn.Linear, states: list[torch.Tensor], input_ids: torch.Tensor, options: Task2VecOptions
) -> None:
    """The reference's optimiser and schedule over its minibatches, on real next tokens only."""
    fused = head.weight.device.type in ("cpu", "cuda")  # one kernel per step where torch has it
    optimizer = torch.optim.AdamW(
        head.parameters(),
        lr=options.lr,
        eps=options.eps,
        weight_decay=options.weight_decay,
        fused=fused or None,
    )
    for _ in range(options.epochs):
        for start in range(0, len(states), options.minibatch):
            rows = range(start, min(start + options.minibatch, len(states)))
            inputs = torch.cat([states[r] for r in rows])
            targets = torch.cat([input_ids[r, 1 : len(states[r]) + 1] for r in rows])
            if not len(targets):  # one-token sequences only: nothing to predict
                continue
            with torch.no_grad():
                head_gradient(head, inputs, targets)
            optimizer.step()


def fit_untied_head(
    model: nn.Module, states: list[torch.Tensor], input_ids: torch.Tensor, options: Task2VecOptions
) -> None:
    """Fine-tune an untied copy of the head on the body's hidden states (`body_states`).

    The reference's optimiser and schedule over the same minibatches, on next-token targets of
    real tokens only. The trained copy replaces the model's head, leaving the input embedding
    untouched.
    """
    old = model.get_output_embeddings()
    head = nn.Linear(old.in_features, old.out_features, bias=old.bias is not None)
    head = head.to(old.weight.device, old.weight.dtype)
    with torch.no_grad():
        head.weight.copy_(old.weight)
        if old.bias is not None:
            head.bias.copy_(old.bias)
    fit_head(head, states, input_ids, options)
    model.set_output_embeddings(head)


def corrected_fisher(
    model: nn.Module, batch: Batch, options: Task2VecOptions, sampler: LabelSampler = sample_labels
) -> dict[int, torch.Tensor]:
    """Row means of the exact per-sequence Fisher, by weight id (see `dataalign.align.fisher`).

    The head's block is left out when `options.include_head` is false.
    """
    head = model.get_output_embeddings().weight
    skip = set() if options.include_head else {id(head)}
    trimmed = (mb for _, mb in by_length(batch, options.minibatch))
    return per_sequence_row_fisher(model, trimmed, sampler, skip)


def row_means(fisher: dict[int, torch.Tensor]) -> dict[int, torch.Tensor]:
    """An elementwise Fisher reduced to the mean of each row (dim 0), the embedding's unit."""
    return {key: value.reshape(value.shape[0], -1).mean(dim=1) for key, value in fisher.items()}


def embedding_vector(
    model: nn.Module, rows: dict[int, torch.Tensor], exclude: nn.Module | None = None
) -> np.ndarray:
    """The reference layout: for each module's weight, in module order, its Fisher row means.

    Rows are dim 0 (per output unit for nn.Linear, per input unit for GPT-2's Conv1D, per token
    for embeddings); biases are left out, and so is module `exclude` (the reference skips the
    head, whose tied weight enters through the input embedding). A weight enters once.
    """
    parts, seen = [], set()
    for module in model.modules():
        weight = module._parameters.get("weight") if module is not exclude else None
        if weight is not None and id(weight) in rows and id(weight) not in seen:
            seen.add(id(weight))
            parts.append(rows[id(weight)])
    return torch.cat(parts).cpu().numpy().astype(np.float32)


@contextmanager
def phase(seconds: dict[str, float], name: str) -> Iterator[None]:
    """Add the block's wall time to `seconds[name]`."""
    start = time.perf_counter()
    yield
    seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - start


def embed_task2vec(
    model: nn.Module,
    tokenizer,
    texts: Sequence[str] | ParquetColumn,
    options: Task2VecOptions,
    name: str = "dataset",
    sampler: LabelSampler = sample_labels,
    seconds: dict[str, float] | None = None,
) -> np.ndarray:
    """Task2Vec embeddings (batches x parameters-rows) of `texts`, a fresh probe copy per batch.

    Batch k holds the texts `batch_rows(len(texts), options)[k]`. The wall time of each phase
    is logged and added to `seconds` when given (by phase name), so a log shows where it goes.
    """
    seconds = {} if seconds is None else seconds
    device = next(model.parameters()).device
    reference = options.mode == "reference"
    vectors = []
    with phase(seconds, "tokenise"):
        batches = draw_batches(texts, tokenizer, options, name)
    for i, batch in enumerate(tqdm(batches, desc=f"task2vec {name}", unit="batch")):
        torch.manual_seed(options.seed + i)
        with phase(seconds, "probe copy"):
            probe = copy.deepcopy(model)
            batch = {k: v.to(device) for k, v in batch.items()}
        if reference:
            with phase(seconds, "head fine-tune (full passes)"):
                reference_finetune_head(probe, batch, options)
            with phase(seconds, "Fisher"):
                rows = row_means(reference_fisher(probe, batch, options, sampler))
        else:
            with phase(seconds, "body pass"):
                states = body_states(probe, batch, options)
            with phase(seconds, "head fit"):
                fit_untied_head(probe, states, batch["input_ids"], options)
            with phase(seconds, "Fisher"):
                rows = corrected_fisher(probe, batch, options, sampler)
        head = probe.get_output_embeddings() if reference else None
        vectors.append(embedding_vector(probe, rows, exclude=head))
        del probe
    spent = ", ".join(f"{key} {value:.1f} s" for key, value in seconds.items())
    size = vectors[0].size
    log.info("%s: %d Task2Vec embeddings of %d values (%s)", name, len(vectors), size, spent)
    return np.stack(vectors)


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
) -> Alignment:
    """Mean of a batch x batch matrix of pair values, with an SE and CI from its groups.

    Each side's batches carry a group id (`groups`, None: every batch its own group). The SE is
    the cluster bootstrap's (`pair_mean`, groups drawn with their batches) times sqrt(m/(m-1)),
    m the fewer groups of the two sides: a bootstrap over m clusters reports (m-1)/m of a
    mean's variance. The CI is value +- t(df = m - 1) x SE: m - 1 is the smaller side's df, a
    lower bound on the two sides' combined (Welch) df, so the interval errs wide, not narrow.
    Below `MIN_GROUPS` groups on a side, se/ci_low/ci_high are NaN and `note` says why (and
    a warning is logged): at 2 / 3 groups the plain bootstrap's CI covered 65% / 82%.
    """
    from scipy.stats import t as student

    values = np.asarray(values, dtype=np.float64)
    sides = [
        np.arange(size) if g is None else np.asarray(g)
        for g, size in zip(groups, values.shape, strict=True)
    ]
    counts = [len(np.unique(side)) for side in sides]
    fewest = min(counts)
    if fewest < MIN_GROUPS:
        note = (
            f"{counts[0]} and {counts[1]} groups of sequences: fewer than {MIN_GROUPS} on a side, "
            "so no SE or CI"
        )
        log.warning("Task2Vec alignment %.4f: %s", values.mean(), note)
        nan = float("nan")
        examples = n if n is not None else sum(values.shape)
        return Alignment(
            float(values.mean()), float(values.std()), nan, nan, nan, examples, note=note
        )
    pairs = all_pairs(*values.shape)
    boot = pair_mean(values.ravel(), *pairs, *values.shape, resamples, seed, tuple(sides), n)
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
    if swap_for_symmetry(np.asarray(train).tobytes(), np.asarray(evaluation).tobytes()):
        train, evaluation, groups = evaluation, train, groups[::-1]
    values = 1.0 - distance_matrix(train, evaluation)
    return group_pair_mean(values, groups, resamples, seed, n)


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
