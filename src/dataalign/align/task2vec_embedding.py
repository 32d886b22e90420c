"""Task2Vec embeddings of text datasets: the diagonal Fisher of a probe LM, one per batch.

Two modes (docs/methods.md, "Alignment coefficients"):
- `reference` reproduces the public reference code, quirks included, so numbers are comparable
  with published ones: train mode, tied head fine-tuning by full passes, labels sampled at t+1
  scored against logits at t, padding unmasked.
- `corrected` fine-tunes an untied copy of the head on hidden states computed once (the body is
  frozen), then takes the exact Fisher of one sequence: the mean over sequences of squared
  per-sequence gradients of the token-summed log-likelihood, y_t ~ p(. | x<=t) scored at t,
  padding masked, eval mode, the head block included (`include_head`). It does not depend on
  how a batch is split into minibatches (see `dataalign.align.fisher`).

The batches and the alignment of two embeddings are `dataalign.align.task2vec`'s.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from dataalign.align.fisher import nll_logit_gradient, per_sequence_row_fisher
from dataalign.align.task2vec import Task2VecOptions, batch_rows, warn_few_groups
from dataalign.errors import DatasetError
from dataalign.io import ParquetColumn

log = logging.getLogger(__name__)
Batch = dict[str, torch.Tensor]
LabelSampler = Callable[[torch.Tensor], torch.Tensor]


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
