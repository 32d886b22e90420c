"""The gradient strategy's per-example gradients are exact and its sketch keeps inner products."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers import tiny_llama

from dataalign.models import ModelSpec, load_causal_lm, load_tokenizer
from dataalign.select.gradients import GradientSketch, count_sketch, last_blocks

TEXTS = ["a b c d e f g h i j", "x y", "one two three four five six", "z z z z z"]


@pytest.fixture(scope="module")
def tokenizer(tiny_lm_dir):
    return load_tokenizer(ModelSpec.from_config("tiny", {"path": str(tiny_lm_dir)}))


def probe(architecture: str, tiny_lm_dir, tokenizer):
    if architecture == "gpt2":
        return load_causal_lm(ModelSpec.from_config("t", {"path": str(tiny_lm_dir)})).double()
    return tiny_llama(len(tokenizer)).double()


def one_by_one(model, tokenizer, layers: int) -> list[list[torch.Tensor]]:
    """Per example, alone: the gradient of its mean next-token loss for every chosen weight."""
    modules, gradients = last_blocks(model, layers), []
    for text in TEXTS:
        ids = tokenizer(text, return_tensors="pt")["input_ids"]
        model.zero_grad()
        logits = model(input_ids=ids).logits[0, :-1]
        F.cross_entropy(logits, ids[0, 1:]).backward()
        gradients.append([module.weight.grad.clone() for _, module in modules])
    return gradients


@pytest.mark.parametrize("architecture", ["gpt2", "llama"])
def test_batched_per_example_gradients_equal_a_loop_over_examples(
    architecture, tiny_lm_dir, tokenizer
):
    """GPT-2 (Conv1D) and Llama (Linear), padded batch, last 2 blocks: every example's gradient
    equals its own backward pass; the sketch equals the dense random projection."""
    model = probe(architecture, tiny_lm_dir, tokenizer)
    sketch = GradientSketch(model, layers=2, dimension=64, seed=3)
    batch = tokenizer(TEXTS, padding=True, padding_side="right", return_tensors="pt")
    batch = {k: batch[k] for k in ("input_ids", "attention_mask")}
    exact = sketch(batch, transform=lambda gradient, k: gradient)
    expected = one_by_one(copy.deepcopy(model), tokenizer, 2)
    assert len(exact) == len(sketch.modules) >= 4
    for k in range(len(sketch.modules)):
        for example in range(len(TEXTS)):
            torch.testing.assert_close(
                exact[k][example], expected[example][k], rtol=1e-7, atol=1e-12
            )
    sketched = sketch(batch)
    dense = torch.zeros(len(TEXTS), 64, dtype=torch.float64)
    for k, (coordinate, sign) in enumerate(sketch.tables):
        projection = torch.zeros(len(coordinate), 64, dtype=torch.float64)
        projection[torch.arange(len(coordinate)), coordinate] = sign.double()
        dense += exact[k].reshape(len(TEXTS), -1) @ projection
    torch.testing.assert_close(sketched, dense, rtol=1e-9, atol=1e-12)


def test_the_sketch_keeps_inner_products_with_the_stated_variance():
    """E<Sx, Sy> = <x, y>, Var = (|x|^2 |y|^2 + <x, y>^2 - 2 sum x_i^2 y_i^2) / d: over 400
    sketches of correlated pairs, the mean error is within 3 SE and the variance within 25%."""
    rng, size, dimension = np.random.default_rng(0), 5000, 256
    x = torch.from_numpy(rng.normal(size=size))
    y = 0.6 * x + 0.8 * torch.from_numpy(rng.normal(size=size))
    truth = float(x @ y)
    errors = []
    generator = torch.Generator().manual_seed(1)
    for _ in range(400):
        coordinate = torch.randint(0, dimension, (size,), generator=generator)
        sign = torch.randint(0, 2, (size,), generator=generator).double() * 2 - 1
        sx, sy = count_sketch(torch.stack([x, y]), coordinate, sign, dimension)
        errors.append(float(sx @ sy) - truth)
    errors = np.array(errors)
    variance = (float(x @ x) * float(y @ y) + truth**2 - 2 * float((x**2) @ (y**2))) / dimension
    assert abs(errors.mean()) < 3 * np.sqrt(variance / len(errors))
    assert 0.75 < errors.var() / variance < 1.25
