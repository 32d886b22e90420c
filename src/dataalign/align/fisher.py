"""The exact diagonal Fisher of a probe LM, reduced per weight row, from one batched backward pass.

Task2Vec's corrected embedding is, for every weight matrix, the mean over its rows' entries of

    F = mean over sequences s of (d/dW  sum_t log p(y_st | x_s<=t))^2

with y sampled from the model: the Fisher of one sequence, whatever the minibatch size. Hooks
see each layer's input x and output gradient g (B x T x features) and give the squared norm of
every row of every sequence's gradient sum_t g_t x_t^T exactly, one layer at a time, by
whichever costs less (as in mixed ghost clipping):

- `ghost`: ||row r||^2 = g[:, r]^T (X X^T) g[:, r], via a T x T Gram matrix per sequence;
- `direct`: form the per-sequence gradient (features x features) and square it.

Parameters are frozen during the pass, so backward computes activation gradients only; weight
gradients, the expensive half of a backward pass, are replaced by these row norms.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
from torch import nn

from dataalign.errors import ModelSpecError

Batch = dict[str, torch.Tensor]
LabelSampler = Callable[[torch.Tensor], torch.Tensor]


def widened(tensor: torch.Tensor) -> torch.Tensor:
    """At least fp32 for the squares and sums (bf16/fp16 activations lose the small rows)."""
    return tensor if tensor.dtype == torch.float64 else tensor.float()


def outer_row_norms(rows_side: torch.Tensor, other_side: torch.Tensor) -> torch.Tensor:
    """Per sequence, ||sum_t rows_side[t, r] * other_side[t, :]||^2 for every r: (B, R).

    `rows_side` is B x T x R and `other_side` B x T x C; the per-sequence gradient is the
    R x C matrix sum_t rows_side_t other_side_t^T. Ghost norms cost T^2 (R + C) per sequence,
    the direct product T R C; the cheaper one is used.
    """
    steps, rows, columns = rows_side.shape[1], rows_side.shape[2], other_side.shape[2]
    if steps * (rows + columns) < rows * columns:
        gram = other_side @ other_side.transpose(1, 2)
        return ((gram @ rows_side) * rows_side).sum(dim=1)
    gradient = rows_side.transpose(1, 2) @ other_side
    return gradient.square().sum(dim=2)


def embedding_row_norms(ids: torch.Tensor, grad: torch.Tensor, rows: int) -> torch.Tensor:
    """Summed over sequences, ||sum_{t: id_t = v} g_t||^2 for every embedding row v: (rows,).

    Equal to sum over pairs of positions holding the same id of g_t . g_t', so one T x T Gram
    matrix per sequence replaces a vocabulary-sized gradient per sequence.
    """
    ids = ids.expand(grad.shape[:2])
    same = ids.unsqueeze(2) == ids.unsqueeze(1)
    per_position = ((grad @ grad.transpose(1, 2)) * same).sum(dim=2)
    return torch.zeros(rows, dtype=grad.dtype, device=grad.device).index_add_(
        0, ids.reshape(-1), per_position.reshape(-1)
    )


def nll_logit_gradient(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """d/dlogits of -log softmax(logits)[label] at every position: softmax - one-hot, a new tensor.

    In closed form, one softmax pass over the vocabulary: autograd's log-softmax, its backward
    and the gather/scatter of the labels cost several passes over that (N x vocabulary) array.
    """
    grad = torch.softmax(logits, dim=-1)
    minus_one = torch.full_like(labels, -1, dtype=grad.dtype).unsqueeze(-1)
    return grad.scatter_add_(-1, labels.unsqueeze(-1), minus_one)


def is_norm(module: nn.Module) -> bool:
    """LayerNorm, RMSNorm and their model-specific copies: a 1-D weight scaling each feature."""
    weight = module._parameters.get("weight")
    return "Norm" in type(module).__name__ and weight is not None and weight.dim() == 1


class RowFisher:
    """Forward and tensor hooks that add up per-sequence squared gradient norms per weight row.

    `sums[id(weight)]` holds, for every row of that weight, the sum over the sequences seen of
    the squared norm of that row of the sequence's gradient.
    """

    def __init__(self, model: nn.Module, skip: set[int]):
        self.sums: dict[int, torch.Tensor] = {}
        self.handles = []
        self.probing: set[nn.Module] = set()
        self.batch_size = 1  # sequences in the minibatch being run
        seen: set[int] = set()
        for name, module in model.named_modules():
            weight = module._parameters.get("weight")
            if weight is None or id(weight) in skip:
                continue
            if id(weight) in seen:
                raise ModelSpecError(
                    f"probe module {name} shares its weight with another module; corrected "
                    "Task2Vec needs untied weights (the head is untied for you). Fix: use "
                    "alignment.task2vec.mode: reference for this probe."
                )
            seen.add(id(weight))
            self.handles.append(module.register_forward_hook(self._hook_for(name, module)))

    def _hook_for(self, name: str, module: nn.Module) -> Callable:
        from transformers.pytorch_utils import Conv1D

        weight = module.weight
        if isinstance(module, nn.Embedding):
            return self._embedding_hook(weight)
        if isinstance(module, nn.Linear):  # weight: out x in, rows are outputs
            return self._matrix_hook(weight, outputs_are_rows=True)
        if isinstance(module, Conv1D):  # weight: in x out, rows are inputs
            return self._matrix_hook(weight, outputs_are_rows=False)
        if is_norm(module):
            return self._norm_hook(weight)
        raise ModelSpecError(
            f"probe module {name} ({type(module).__name__}) has no exact per-sequence Fisher in "
            "corrected Task2Vec (Linear, Conv1D, Embedding and *Norm layers do). Fix: use "
            "alignment.task2vec.mode: reference for this probe."
        )

    def _add(self, weight: torch.Tensor, per_sequence: torch.Tensor) -> None:
        total = per_sequence.detach().sum(dim=0) if per_sequence.dim() == 2 else per_sequence
        key = id(weight)
        self.sums[key] = self.sums[key] + total if key in self.sums else total.detach().clone()

    def _matrix_hook(self, weight: torch.Tensor, outputs_are_rows: bool) -> Callable:
        def forward(module, inputs, output):
            x = widened(inputs[0].detach())

            def backward(grad):
                g = widened(grad)
                rows, other = (g, x) if outputs_are_rows else (x, g)
                self._add(weight, outer_row_norms(rows, other))

            output.register_hook(backward)

        return forward

    def _embedding_hook(self, weight: torch.Tensor) -> Callable:
        def forward(module, inputs, output):
            # one leaf per sequence: a lookup shared by the batch (GPT-2's positions, shape
            # 1 x T) is expanded, so each sequence's gradient reaches it separately
            ids = inputs[0].expand(self.batch_size, *inputs[0].shape[1:])
            leaf = output.detach().expand(self.batch_size, *output.shape[1:]).clone()
            leaf.requires_grad_(True)
            leaf.register_hook(
                lambda grad: self._add(
                    weight, embedding_row_norms(ids, widened(grad), weight.shape[0])
                )
            )
            return leaf

        return forward

    def _norm_hook(self, weight: torch.Tensor) -> Callable:
        def forward(module, inputs, output):
            if module in self.probing:  # the two calls below run this hook too
                return
            # the output is affine in each weight entry: d out / d weight = out(w=1) - out(w=0)
            x, call = inputs[0].detach(), torch.func.functional_call
            self.probing.add(module)
            try:
                with torch.no_grad():
                    ones = call(module, {"weight": torch.ones_like(weight)}, x)
                    zeros = call(module, {"weight": torch.zeros_like(weight)}, x)
            finally:
                self.probing.discard(module)
            slope = widened(ones - zeros)
            output.register_hook(
                lambda grad: self._add(weight, (widened(grad) * slope).sum(dim=1).square())
            )

        return forward

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()


@contextmanager
def frozen(model: nn.Module) -> Iterator[None]:
    """Parameters without gradients for the duration (activation gradients only)."""
    flags = [(p, p.requires_grad) for p in model.parameters()]
    for parameter, _ in flags:
        parameter.requires_grad_(False)
    try:
        yield
    finally:
        for parameter, flag in flags:
            parameter.requires_grad_(flag)


def per_sequence_row_fisher(
    model: nn.Module,
    minibatches: Iterator[Batch],
    sampler: LabelSampler,
    skip: set[int] = frozenset(),
) -> dict[int, torch.Tensor]:
    """Row means of the exact diagonal Fisher (mean over sequences), by weight id.

    Labels are drawn by `sampler` from the model's own predictions at each position and scored
    there; padded positions are masked. Weights whose id is in `skip` are left out. Backward
    starts from the logits' gradient in closed form (`nll_logit_gradient`).
    """
    model.eval()
    hooks, sequences = RowFisher(model, set(skip)), 0
    try:
        with frozen(model), torch.enable_grad():
            for mb in minibatches:
                hooks.batch_size = mb["input_ids"].shape[0]
                logits = model(**mb).logits
                with torch.no_grad():
                    grad = nll_logit_gradient(logits, sampler(logits))
                    grad[~mb["attention_mask"].bool()] = 0
                logits.backward(grad)
                sequences += mb["input_ids"].shape[0]
    finally:
        hooks.remove()
    weights = {id(p): p for p in model.parameters()}
    return {key: total / (sequences * weights[key][0].numel()) for key, total in hooks.sums.items()}
