"""Perplexity of a model on a benchmark, on lm-evaluation-harness's convention by default.

Each text is scored on its own (no packing). Two conventions (`evaluation.convention`):

- `lm_eval` (default): as lm-eval's `loglikelihood_rolling`, each text is conditioned on one
  prefix token (the tokenizer's BOS, else its EOS) and every token of the text is scored, so
  the summed NLL is comparable with published lm-eval numbers; `bits_per_byte`,
  `byte_perplexity` and `word_perplexity` are computed as lm-eval's wikitext task does.
- `paper`: the paper's Appendix C, no token added and each text's first token never scored.

Texts longer than the context are scored with a sliding window, so every scored token is
predicted exactly once, with as much left context as the window allows.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterator
from typing import Literal

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from dataalign.train.trainer import context_length

log = logging.getLogger(__name__)
Window = tuple[list[int], list[int]]


def windows(ids: list[int], context: int, stride: int, first: int = 1) -> Iterator[Window]:
    """(input ids, labels) windows over one text; labels are -100 where a token is context only.

    Tokens from `first` on are predicted, each exactly once, with at least context - stride
    tokens before it (or all of them); tokens before `first` are context only. A stride of the
    context or more would skip the token each window opens with, so it is refused.
    """
    if not 0 < stride < context:
        raise ValueError(f"stride {stride} must be positive and below the context of {context}")
    if not 0 < first < len(ids):
        raise ValueError(f"the first scored token {first} must be in 1..{len(ids) - 1}")
    scored_until = first
    for begin in range(max(0, first + stride - context), len(ids) - 1, stride):
        end = min(begin + context, len(ids))
        window = ids[begin:end]
        labels = [-100] * (scored_until - begin) + window[scored_until - begin :]
        yield window, labels
        scored_until = end
        if end == len(ids):
            break


def padded_batch(
    sequences: list[list[int]], pad: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad token lists to one width; the attention mask marks the real tokens."""
    width = max(map(len, sequences))
    padded = torch.tensor([s + [pad] * (width - len(s)) for s in sequences], device=device)
    lengths = torch.tensor([len(s) for s in sequences], device=device)
    return padded, (torch.arange(width, device=device) < lengths[:, None]).long()


def prefix_token(tokenizer) -> int:
    """The token lm-eval conditions a rolling log-likelihood on: BOS, else EOS."""
    prefix = tokenizer.bos_token_id
    if prefix is None:
        prefix = tokenizer.eos_token_id
    if prefix is None:
        raise ValueError("the tokenizer has neither a BOS nor an EOS token to condition on")
    return prefix


def count_words(text: str) -> int:
    """Words as lm-eval's wikitext task counts them (pieces between whitespace runs)."""
    return len(re.split(r"\s+", text))


def perplexity(
    model,
    tokenizer,
    texts: list[str],
    context: int | None = None,
    stride: int | None = None,
    batch_size: int = 8,
    convention: Literal["lm_eval", "paper"] = "lm_eval",
) -> dict[str, float]:
    """n_tokens, nll_sum, ce (mean NLL in nats), ppl = exp(ce), and per byte and word: n_bytes,
    n_words, bits_per_byte, byte_perplexity, word_perplexity of `model` on `texts`."""
    limit = context_length(model) or 1 << 30
    if context is not None and context > limit:
        log.warning("context %d exceeds the model's %d positions; using %d", context, limit, limit)
    context = min(context or context_length(model) or 1024, limit)
    if stride is not None and stride >= context:
        log.warning(
            "stride %d is not below the context of %d; using %d",
            stride,
            context,
            max(context // 2, 1),
        )
        stride = None
    stride = stride or max(context // 2, 1)
    encoded = tokenizer(texts, add_special_tokens=False, verbose=False)["input_ids"]
    if convention == "lm_eval":
        prefix = prefix_token(tokenizer)
        encoded = [[prefix, *ids] for ids in encoded]
    work = [w for ids in encoded if len(ids) > 1 for w in windows(ids, context, stride)]
    nll_sum = sum(window_nll(model, tokenizer, work, batch_size, "perplexity"))
    n_tokens = sum(sum(label != -100 for label in labels[1:]) for _, labels in work)
    n_bytes = sum(len(text.encode("utf-8")) for text in texts)
    n_words = sum(count_words(text) for text in texts)
    ce = nll_sum / n_tokens
    return {
        "n_tokens": n_tokens,
        "nll_sum": nll_sum,
        "ce": ce,
        "ppl": math.exp(ce),
        "n_bytes": n_bytes,
        "n_words": n_words,
        "bits_per_byte": nll_sum / (n_bytes * math.log(2)),
        "byte_perplexity": math.exp(nll_sum / n_bytes),
        "word_perplexity": math.exp(nll_sum / n_words),
    }


def token_losses(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of each position's label, shaped like `labels` (0 where it is -100).

    The vocabulary stays the last, contiguous axis: `cross_entropy` over a (batch, vocabulary,
    length) transposed view computes the same numbers 2-3x slower on CPU.
    """
    flat = F.cross_entropy(
        logits.flatten(0, 1), labels.flatten(), ignore_index=-100, reduction="none"
    )
    return flat.view(labels.shape)


def window_nll(model, tokenizer, work: list[Window], batch_size: int, desc: str) -> list[float]:
    """Summed NLL (nats) of each window's labelled tokens, in the order of `work`.

    Windows are batched longest first, so a batch pads little.
    """
    device = next(model.parameters()).device
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    order = sorted(range(len(work)), key=lambda i: -len(work[i][0]))
    sums = [0.0] * len(work)
    model.eval()
    with torch.no_grad():
        for start in tqdm(range(0, len(order), batch_size), desc=desc, unit="batch"):
            chunk = order[start : start + batch_size]
            ids, mask = padded_batch([work[i][0] for i in chunk], pad, device)
            labels, _ = padded_batch([work[i][1] for i in chunk], -100, device)
            logits = model(input_ids=ids, attention_mask=mask).logits.float()
            losses = token_losses(logits[:, :-1], labels[:, 1:])
            for row, i in enumerate(chunk):
                sums[i] = float(losses[row].sum())
    return sums
