"""Per-example gradients of a language model, sketched to a fixed dimension as they form.

The `gradient` selection strategy (`dataalign.select.strategies.gradient`) scores a pool example
by how its gradient points relative to the target's. The gradient is the example's own: that of
its mean next-token loss, over the matrix weights of the probe's last `layers` transformer blocks.
Per-example gradients come from one batched backward pass: hooks see each weight's input x and
output gradient g per example and form sum_t g_t x_t^T exactly (as `dataalign.align.fisher`
does for its squared norms). Each is sketched at once to `dimension` numbers by a seeded
CountSketch (every weight entry added, with a random sign, to a random coordinate), which keeps
inner products in expectation with variance (|x|^2 |y|^2 + <x, y>^2) / dimension; memory holds
one module's gradients for one batch at a time. LESS's Adam preconditioning after a warm-up is
not applied: the probe is used as it is.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn

from dataalign.align.fisher import widened
from dataalign.train.evaluate import token_losses


def last_blocks(model: nn.Module, layers: int) -> list[tuple[str, nn.Module]]:
    """The Linear and Conv1D modules of the model's last `layers` transformer blocks (its
    longest ModuleList: GPT-2's `h`, Llama's `layers`), in order."""
    from transformers.pytorch_utils import Conv1D

    stacks = [(name, m) for name, m in model.named_modules() if isinstance(m, nn.ModuleList)]
    stack_name, stack = max(stacks, key=lambda item: len(item[1]))
    chosen = []
    for index in range(max(len(stack) - layers, 0), len(stack)):
        for name, module in stack[index].named_modules():
            if isinstance(module, nn.Linear | Conv1D):
                chosen.append((f"{stack_name}.{index}.{name}", module))
    return chosen


def count_sketch(
    rows: torch.Tensor, coordinate: torch.Tensor, sign: torch.Tensor, dimension: int
) -> torch.Tensor:
    """Each row's entries, times their sign, added into their coordinate: (B, dimension)."""
    sketch = torch.zeros(len(rows), dimension, device=rows.device, dtype=rows.dtype)
    return sketch.index_add_(1, coordinate, rows * sign.to(rows.dtype))


class GradientSketch:
    """Per-example gradients of chosen weights, each CountSketched to `dimension` as it forms."""

    def __init__(self, model: nn.Module, layers: int, dimension: int, seed: int = 0):
        from transformers.pytorch_utils import Conv1D

        self.model, self.dimension = model.eval(), dimension
        self.modules = last_blocks(model, layers)
        generator = torch.Generator().manual_seed(seed)
        device = next(model.parameters()).device
        self.tables = []  # per module: coordinate and sign of every weight entry
        for _, module in self.modules:
            size = module.weight.numel()
            coordinate = torch.randint(0, dimension, (size,), generator=generator)
            sign = torch.randint(0, 2, (size,), generator=generator).float() * 2 - 1
            self.tables.append((coordinate.to(device), sign.to(device)))
        self.outputs_are_rows = [not isinstance(m, Conv1D) for _, m in self.modules]

    def per_example(self, gradient: torch.Tensor, k: int) -> torch.Tensor:
        """Sketch (B, *weight.shape) per-example gradients of module `k` to (B, dimension)."""
        return count_sketch(gradient.reshape(len(gradient), -1), *self.tables[k], self.dimension)

    def __call__(
        self, batch: dict[str, torch.Tensor], transform: Callable | None = None
    ) -> torch.Tensor:
        """Sketched gradients (B, dimension) of each example's mean next-token loss.

        `transform(k, gradient)` replaces the sketch (for tests: the exact gradients)."""
        parts: list[torch.Tensor | None] = [None] * len(self.modules)
        handles = []

        def hook_for(k: int) -> Callable:
            def forward(module, inputs, output):
                x = widened(inputs[0].detach())

                def backward(grad):
                    g = widened(grad)
                    rows, other = (g, x) if self.outputs_are_rows[k] else (x, g)
                    gradient = rows.transpose(1, 2) @ other  # (B, out, in) or (B, in, out)
                    parts[k] = (transform or self.per_example)(gradient, k)

                output.register_hook(backward)

            return forward

        weights = [module.weight for _, module in self.modules]
        flags = [(p, p.requires_grad) for p in self.model.parameters()]
        try:
            for parameter, _ in flags:
                parameter.requires_grad_(False)
            for weight in weights:  # so the graph reaches the chosen layers
                weight.requires_grad_(True)
            handles = [
                m.register_forward_hook(hook_for(k)) for k, (_, m) in enumerate(self.modules)
            ]
            with torch.enable_grad():
                logits = widened(self.model(**batch).logits[:, :-1])
                labels, mask = batch["input_ids"][:, 1:], batch["attention_mask"][:, 1:].float()
                losses = token_losses(logits, labels)
                per_example = (losses * mask).sum(dim=1) / mask.sum(dim=1).clamp_min(1)
                per_example.sum().backward()  # each example's share is its own mean loss
        finally:
            for handle in handles:
                handle.remove()
            for parameter, flag in flags:
                parameter.requires_grad_(flag)
                parameter.grad = None
        if transform is not None:
            return parts
        return torch.stack(parts).sum(dim=0)


def sketched(
    sketch: GradientSketch, tokenizer, texts: Sequence[str], seq_len: int, batch_size: int
) -> np.ndarray:
    """Unit-length sketched gradients of `texts` (NaN rows for texts with no next token)."""
    device = next(sketch.model.parameters()).device
    rows = []
    for start in range(0, len(texts), batch_size):
        encoded = tokenizer(
            list(texts[start : start + batch_size]),
            padding=True,
            padding_side="right",
            truncation=True,
            max_length=seq_len,
            return_tensors="pt",
        )
        batch = {k: encoded[k].to(device) for k in ("input_ids", "attention_mask")}
        vectors = sketch(batch).double().cpu()
        norms = vectors.norm(dim=1, keepdim=True)
        rows.append(torch.where(norms > 0, vectors / norms, torch.nan).numpy())
    return np.concatenate(rows) if rows else np.empty((0, sketch.dimension))
