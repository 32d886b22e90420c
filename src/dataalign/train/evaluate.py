"""Perplexity of a model on a benchmark, on lm-evaluation-harness's convention by default.

Each text is scored on its own (no packing). Two conventions (`evaluation.convention`):

- `lm_eval` (default): as lm-eval's `loglikelihood_rolling`, each text is conditioned on one
  prefix token (the tokenizer's BOS, else its EOS) and every token of the text is scored, so
  the summed NLL is comparable with published lm-eval numbers; `bits_per_byte`,
  `byte_perplexity` and `word_perplexity` are computed as lm-eval's wikitext task does.
- `paper`: the paper's Appendix C, no token added and each text's first token never scored.

Texts longer than the context are scored in windows, every scored token predicted exactly once.
Under `lm_eval` they are lm-eval's own (`lm_eval_windows`: `get_rolling_token_windows` with
context_len 1, made disjoint, as `loglikelihood_rolling` calls it): the first window feeds the
prefix and the text's first `context` - 1 tokens and scores the first `context` tokens; each
later one scores the next `context` tokens given only the one token before them; the last, if
shorter, is filled up to `context` inputs with the tokens before it. `context` (by default the
model's positions) is lm-eval's `max_length`; `stride` is not used. Under `paper` the window
slides by `stride` (half the context by default), so every token after the first window has at
least context - stride tokens before it. With SmolLM2-135M on 3.5 windows of English text, the
half-context sliding window `lm_eval` used before gave a summed NLL 3.9% (128-token windows)
and 2.0% (512) below lm-eval's.
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

from dataalign.schemas import defaults
from dataalign.train.trainer import context_length

log = logging.getLogger(__name__)
EVALUATION = defaults("evaluation")  # an experiment's `evaluation:` defaults
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


def lm_eval_windows(ids: list[int], prefix: int, context: int) -> Iterator[Window]:
    """lm-eval's `loglikelihood_rolling` windows over one text's tokens `ids` (no prefix), as
    (input ids, labels) with labels -100 where a token is context only.

    lm-eval's own window functions give (context, continuation) pairs; as `HFLM` does, the
    model sees the last `context` + 1 tokens of each pair less the last one, so a window here
    is up to `context` + 1 tokens long and `window_nll` feeds all but its last to the model.
    """
    from lm_eval.utils import get_rolling_token_windows, make_disjoint_window

    for pair in get_rolling_token_windows(ids, prefix, max_seq_len=context, context_len=1):
        given, scored = make_disjoint_window(pair)
        window = (given + scored)[-(context + 1) :]
        yield window, [-100] * (len(window) - len(scored)) + scored


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
    batch_size: int = EVALUATION["batch_size"],
    convention: Literal["lm_eval", "paper"] = EVALUATION["convention"],
) -> dict[str, float]:
    """n_tokens, nll_sum, ce (mean NLL in nats), ppl = exp(ce), and per byte and word: n_bytes,
    n_words, bits_per_byte, byte_perplexity, word_perplexity of `model` on `texts`."""
    limit = context_length(model) or 1 << 30
    if context is not None and context > limit:
        log.warning("context %d exceeds the model's %d positions; using %d", context, limit, limit)
    context = min(context or context_length(model) or 1024, limit)
    encoded = tokenizer(texts, add_special_tokens=False, verbose=False)["input_ids"]
    if convention == "lm_eval":
        if stride is not None:
            log.warning(
                "stride %d is not used: convention lm_eval scores lm-eval's windows", stride
            )
        prefix = prefix_token(tokenizer)
        work = [w for ids in encoded if ids for w in lm_eval_windows(ids, prefix, context)]
    else:
        if stride is not None and stride >= context:
            log.warning(
                "stride %d is not below the context of %d; using %d",
                stride,
                context,
                max(context // 2, 1),
            )
            stride = None
        stride = stride or max(context // 2, 1)
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

    The model sees each window but its last token, which is only ever a label. Windows are
    batched longest first, so a batch pads little.
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
            logits = model(input_ids=ids[:, :-1], attention_mask=mask[:, :-1]).logits.float()
            losses = token_losses(logits, labels[:, 1:])
            for row, i in enumerate(chunk):
                sums[i] = float(losses[row].sum())
    return sums
