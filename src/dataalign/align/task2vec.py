"""Task2Vec embeddings of text datasets: the diagonal Fisher of a probe LM, one per batch.

Two modes (see README "Task2Vec modes"):
- `reference` reproduces the public reference code, quirks included, so numbers are comparable
  with published ones: train mode, tied head fine-tuning by full passes, labels sampled at t+1
  scored against logits at t, padding unmasked.
- `corrected` samples y_t from p(. | x<=t) and scores it at t, masks padding, runs in eval mode,
  and fine-tunes an untied copy of the head on hidden states computed once, so only the Fisher
  pass needs full backward passes.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from dataalign.align.stats import Alignment, mean_with_ci
from dataalign.errors import DatasetError
from dataalign.io import ParquetColumn

log = logging.getLogger(__name__)
Batch = dict[str, torch.Tensor]
LabelSampler = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class Task2VecOptions:
    """How batches are drawn and the probe is fine-tuned; defaults are the reference's."""

    mode: Literal["reference", "corrected"] = "reference"
    batch_size: int = 512
    seq_len: int = 128
    batches: int = 100
    epochs: int = 5
    minibatch: int = 8
    lr: float = 5e-5
    eps: float = 1e-8
    weight_decay: float = 1e-4
    seed: int = 0


def draw_batches(
    texts: Sequence[str] | ParquetColumn, tokenizer, options: Task2VecOptions, name: str
) -> list[Batch]:
    """`batches` batches of `batch_size` sequences padded/truncated to `seq_len` tokens.

    Batch i takes the first `batch_size` texts of a shuffle seeded with seed + i (no packing).
    Only the texts drawn are tokenised, so a pre-training subset costs what its batches cost.
    """
    if len(texts) < options.batch_size:
        raise DatasetError(
            f"dataset '{name}' has {len(texts)} sequences, fewer than one Task2Vec batch "
            f"({options.batch_size}). Fix: lower alignment.task2vec.batch_size or raise the budget."
        )
    chosen = [
        np.random.default_rng(options.seed + i).permutation(len(texts))[: options.batch_size]
        for i in range(options.batches)
    ]
    drawn = np.unique(np.concatenate(chosen))
    encoded = tokenizer(
        texts.take(drawn) if isinstance(texts, ParquetColumn) else [texts[i] for i in drawn],
        padding="max_length",
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
    """One label per position drawn from softmax(logits): the Monte Carlo Fisher's targets."""
    probs = torch.softmax(logits.detach().float(), dim=-1)
    return torch.multinomial(probs.reshape(-1, probs.shape[-1]), 1).reshape(probs.shape[:-1])


def minibatches(batch: Batch, size: int) -> Iterator[Batch]:
    """Consecutive minibatches in order (the reference does not shuffle)."""
    total = batch["input_ids"].shape[0]
    for start in range(0, total, size):
        yield {k: v[start : start + size] for k, v in batch.items()}


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

    def loss_fn(mb: Batch, logits: torch.Tensor) -> torch.Tensor:
        labels = sampler(logits)
        return F.cross_entropy(logits[:, :-1].flatten(0, 1), labels[:, 1:].flatten())

    return _accumulate_fisher(model, batch, options, loss_fn)


def corrected_finetune_head(model: nn.Module, batch: Batch, options: Task2VecOptions) -> None:
    """Fine-tune an untied copy of the head on hidden states computed once (body frozen).

    Same optimiser and schedule as the reference, next-token targets with padding masked; the
    trained copy replaces the model's head, leaving the input embedding untouched.
    """
    model.eval()
    old = model.get_output_embeddings()
    head = nn.Linear(old.in_features, old.out_features, bias=old.bias is not None)
    head = head.to(old.weight.device, old.weight.dtype)
    with torch.no_grad():
        head.weight.copy_(old.weight)
        if old.bias is not None:
            head.bias.copy_(old.bias)
        hidden = [
            model.base_model(**mb).last_hidden_state for mb in minibatches(batch, options.minibatch)
        ]
    optimizer = torch.optim.AdamW(
        head.parameters(), lr=options.lr, eps=options.eps, weight_decay=options.weight_decay
    )
    for _ in range(options.epochs):
        for states, mb in zip(hidden, minibatches(batch, options.minibatch), strict=True):
            keep = mb["attention_mask"][:, 1:].bool()
            loss = F.cross_entropy(head(states[:, :-1][keep]), mb["input_ids"][:, 1:][keep])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    model.set_output_embeddings(head)


def corrected_fisher(
    model: nn.Module, batch: Batch, options: Task2VecOptions, sampler: LabelSampler = sample_labels
) -> dict[int, torch.Tensor]:
    """Mean over minibatches of grad^2 of the Monte Carlo loss with y_t ~ p(. | x<=t) scored at t.

    Padded positions are masked; eval mode, so only the sampled labels are random.
    """
    model.eval()

    def loss_fn(mb: Batch, logits: torch.Tensor) -> torch.Tensor:
        keep = mb["attention_mask"].bool()
        return F.cross_entropy(logits[keep], sampler(logits)[keep])

    return _accumulate_fisher(model, batch, options, loss_fn)


def _accumulate_fisher(
    model: nn.Module,
    batch: Batch,
    options: Task2VecOptions,
    loss_fn: Callable[[Batch, torch.Tensor], torch.Tensor],
) -> dict[int, torch.Tensor]:
    fisher: dict[int, torch.Tensor] = {}
    count = 0
    for mb in minibatches(batch, options.minibatch):
        model.zero_grad(set_to_none=True)
        loss_fn(mb, model(**mb).logits).backward()
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


def embedding_vector(model: nn.Module, fisher: dict[int, torch.Tensor]) -> np.ndarray:
    """The reference layout: for each module's weight (not the head), mean of its Fisher per row.

    Rows are dim 0 (per output unit for nn.Linear, per input unit for GPT-2's Conv1D, per token
    for embeddings); biases are left out. A head tied to the input embedding enters through it.
    """
    head = model.get_output_embeddings()
    parts = []
    for module in model.modules():
        weight = module._parameters.get("weight") if module is not head else None
        if weight is not None and id(weight) in fisher:
            values = fisher[id(weight)]
            parts.append(values.reshape(values.shape[0], -1).mean(dim=1))
    return torch.cat(parts).cpu().numpy().astype(np.float32)


def embed_task2vec(
    model: nn.Module,
    tokenizer,
    texts: Sequence[str] | ParquetColumn,
    options: Task2VecOptions,
    name: str = "dataset",
    sampler: LabelSampler = sample_labels,
) -> np.ndarray:
    """Task2Vec embeddings (batches x parameters-rows) of `texts`, a fresh probe copy per batch."""
    device = next(model.parameters()).device
    finetune, fisher = (
        (reference_finetune_head, reference_fisher)
        if options.mode == "reference"
        else (corrected_finetune_head, corrected_fisher)
    )
    vectors = []
    batches = draw_batches(texts, tokenizer, options, name)
    for i, batch in enumerate(tqdm(batches, desc=f"task2vec {name}", unit="batch")):
        torch.manual_seed(options.seed + i)
        probe = copy.deepcopy(model)
        batch = {k: v.to(device) for k, v in batch.items()}
        finetune(probe, batch, options)
        vectors.append(embedding_vector(probe, fisher(probe, batch, options, sampler)))
        del probe
    log.info("%s: %d Task2Vec embeddings of %d values", name, len(vectors), vectors[0].size)
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


def task2vec_alignment(train: np.ndarray, evaluation: np.ndarray, level: float = 0.95) -> Alignment:
    """1 - mean distance over all N x M batch pairs, with the population std and a CI."""
    return mean_with_ci(1.0 - distance_matrix(train, evaluation), level)


def task2vec_diversity(embeddings: np.ndarray, level: float = 0.95) -> Alignment:
    """Mean distance over distinct batch pairs of one dataset (the diversity coefficient)."""
    distances = distance_matrix(embeddings, embeddings)
    return mean_with_ci(distances[np.triu_indices(len(embeddings), k=1)], level)
