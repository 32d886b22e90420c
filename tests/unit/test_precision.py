"""Precision: the optimiser updates fp32 master weights; autocast only sets the compute dtype.

On CPU with bf16 autocast, a learning rate far below bf16's resolution still moves the weights
(it would not if the weights were bf16), and the saved checkpoint is fp32.
"""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

from dataalign.errors import DataAlignError
from dataalign.models import compute_dtype, load_model_and_tokenizer
from dataalign.train.trainer import (
    TrainOptions,
    check_master_weights,
    tokenize_texts,
    train_causal_lm,
)

TEXTS = ["theorem every prime divides the sum", "the river walked under the old bridge"] * 20
TINY_LR = 1e-6  # ~100x below bf16's spacing for weights of size ~0.02


def fraction_changed(before: dict[str, torch.Tensor], after: dict[str, torch.Tensor]) -> float:
    changed = sum(int((before[k] != after[k]).sum()) for k in before)
    return changed / sum(v.numel() for v in before.values())


def test_precision_bf16_autocast_keeps_fp32_master_weights(tiny_lm_dir, tmp_path):
    entry = {"name": "tiny", "entry": {"path": str(tiny_lm_dir)}}
    model, tokenizer = load_model_and_tokenizer(entry, entry, device="cpu")  # as rule finetune
    before = {k: v.detach().clone() for k, v in model.state_dict().items() if "weight" in k}
    options = TrainOptions(max_steps=1, lr=TINY_LR, batch_size=4, seq_len=16, precision="bf16")
    train_causal_lm(
        model,
        tokenizer,
        tokenize_texts(TEXTS, tokenizer),
        options,
        tmp_path / "out",
        tmp_path / "c",
    )
    saved = load_file(tmp_path / "out" / "model.safetensors")
    assert {str(t.dtype) for t in saved.values()} == {"torch.float32"}
    after = {k: saved[k] for k in before if k in saved}
    assert fraction_changed({k: before[k] for k in after}, after) > 0.9


def test_precision_bf16_weights_would_lose_the_same_update(tiny_lm_dir):
    """The premise of the test above: with bf16 weights, most of a tiny update rounds away."""
    entry = {"name": "tiny", "entry": {"path": str(tiny_lm_dir)}}
    model, tokenizer = load_model_and_tokenizer(entry, entry, device="cpu", dtype=torch.bfloat16)
    before = {k: v.detach().clone() for k, v in model.named_parameters()}
    ids = torch.tensor([tokenize_texts(TEXTS[:2], tokenizer)[:16].tolist()])
    model.train()
    model(input_ids=ids, labels=ids).loss.backward()
    torch.optim.AdamW(model.parameters(), lr=TINY_LR, weight_decay=0.0).step()
    after = {k: v.detach() for k, v in model.named_parameters()}
    assert fraction_changed(before, after) < 0.2


def test_precision_training_refuses_low_precision_weights(tiny_lm_dir):
    entry = {"name": "tiny", "entry": {"path": str(tiny_lm_dir)}}
    model, _ = load_model_and_tokenizer(entry, entry, device="cpu", dtype=torch.bfloat16)
    with pytest.raises(DataAlignError, match="training needs fp32 master weights"):
        check_master_weights(model)


def test_precision_auto_is_fp32_on_cpu_and_explicit_choices_are_kept():
    assert compute_dtype("auto", "cpu") == torch.float32
    assert compute_dtype("bf16", "cpu") == torch.bfloat16
    assert compute_dtype("fp16", "cpu") == torch.float16
    with pytest.raises(ValueError, match="not one of"):
        compute_dtype("int8", "cpu")
