"""The corrected Task2Vec Fisher is exact: closed forms, a per-sequence brute force, any split."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers import tiny_llama
from torch import nn

from dataalign.align.fisher import per_sequence_row_fisher
from dataalign.align.task2vec import Task2VecOptions
from dataalign.align.task2vec_embedding import (
    corrected_fisher,
    draw_batches,
    embedding_vector,
    minibatches,
)
from dataalign.errors import ModelSpecError
from dataalign.models import ModelSpec, load_causal_lm, load_tokenizer


@pytest.fixture(scope="module")
def tokenizer(tiny_lm_dir):
    """The word tokenizer as probes load it (padding set)."""
    return load_tokenizer(ModelSpec.from_config("tiny", {"path": str(tiny_lm_dir)}))


class LinearSoftmax(nn.Module):
    """Fixed features per token (an embedding) and a linear-softmax head: closed-form Fisher."""

    def __init__(self, vocab: int, dim: int, seed: int = 0):
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        self.features = nn.Embedding(vocab, dim).double()
        self.head = nn.Linear(dim, vocab, bias=False).double()
        with torch.no_grad():
            self.features.weight.copy_(torch.randn(vocab, dim, generator=generator))
            self.head.weight.copy_(torch.randn(vocab, dim, generator=generator) * 0.7)

    def forward(self, input_ids, attention_mask):
        return type("Output", (), {"logits": self.head(self.features(input_ids))})


def batch_of(ids: torch.Tensor, lengths: list[int]) -> dict[str, torch.Tensor]:
    mask = (torch.arange(ids.shape[1]) < torch.tensor(lengths)[:, None]).long()
    return {"input_ids": ids, "attention_mask": mask}


def fixed_labels(labels: torch.Tensor):
    """A sampler that returns given labels, minibatch after minibatch."""
    chunks = []

    def sampler(logits: torch.Tensor) -> torch.Tensor:
        start = sum(len(c) for c in chunks)
        chunks.append(labels[start : start + logits.shape[0]])
        return chunks[-1]

    return sampler


def test_linear_softmax_rows_match_the_closed_form_gradient():
    """Per sequence, d/dW sum_t log p(y_t | x_t) = sum_t (e_y - p_t) x_t^T, squared and averaged."""
    torch.manual_seed(0)
    model, vocab, dim = LinearSoftmax(vocab=7, dim=5), 7, 5
    ids, labels = torch.randint(0, vocab, (6, 4)), torch.randint(0, vocab, (6, 4))
    batch = batch_of(ids, [4, 3, 4, 1, 2, 4])
    rows = per_sequence_row_fisher(model, minibatches(batch, 4), fixed_labels(labels))

    x = model.features.weight.detach()[ids]  # (B, T, dim)
    p = torch.softmax(x @ model.head.weight.detach().T, dim=-1)
    residual = (F.one_hot(labels, vocab).double() - p) * batch["attention_mask"][..., None]
    head_grads = torch.einsum("btv,btd->bvd", residual, x)  # one gradient per sequence
    expected_head = head_grads.square().mean(dim=0).mean(dim=1)
    feature_grads = torch.zeros(6, vocab, dim, dtype=torch.float64)
    feature_grads.index_put_(
        (torch.arange(6)[:, None].expand(6, 4), ids),
        residual @ model.head.weight.detach(),
        accumulate=True,
    )
    expected_features = feature_grads.square().mean(dim=0).mean(dim=1)
    got_head, got_features = rows[id(model.head.weight)], rows[id(model.features.weight)]
    np.testing.assert_allclose(got_head.numpy(), expected_head.numpy(), rtol=1e-5, atol=0)
    np.testing.assert_allclose(got_features, expected_features, rtol=1e-5, atol=1e-15)


def test_sampled_labels_converge_to_the_expected_fisher():
    """E_y[(sum_t (e_y - p_t)_r x_tc)^2] = sum_t p_tr (1 - p_tr) x_tc^2 (y_t drawn at t, scored
    at t, independently across positions)."""
    from dataalign.align.task2vec_embedding import sample_labels

    torch.manual_seed(1)
    model, vocab = LinearSoftmax(vocab=5, dim=3, seed=2), 5
    ids = torch.randint(0, vocab, (1, 3)).repeat(6000, 1)  # one sequence, many label draws
    batch = batch_of(ids, [3] * 6000)
    rows = per_sequence_row_fisher(model, minibatches(batch, 1000), sample_labels)
    x = model.features.weight.detach()[ids[0]]
    p = torch.softmax(x @ model.head.weight.detach().T, dim=-1)
    expected = torch.einsum("tv,td->vd", p * (1 - p), x.square()).mean(dim=1)
    np.testing.assert_allclose(rows[id(model.head.weight)], expected, rtol=0.06)


def least_likely(logits: torch.Tensor) -> torch.Tensor:
    """A label rule that depends only on each position's own logits: any batching gives the same."""
    return logits.argmin(dim=-1)


def brute_force_rows(model, batch, sampler, skip=()):
    """One backward per sequence, grad^2 of its token-summed loss, averaged, then row means."""
    squares: dict[int, torch.Tensor] = {}
    for s in range(batch["input_ids"].shape[0]):
        one = {k: v[s : s + 1] for k, v in batch.items()}
        model.zero_grad()
        logits = model(**one).logits
        keep = one["attention_mask"].bool()
        F.cross_entropy(logits[keep], sampler(logits)[keep], reduction="sum").backward()
        for parameter in model.parameters():
            if parameter.grad is not None and id(parameter) not in skip:
                squares[id(parameter)] = squares.get(id(parameter), 0) + parameter.grad.square()
    count = batch["input_ids"].shape[0]
    return {k: (v / count).reshape(v.shape[0], -1).mean(dim=1) for k, v in squares.items()}


@pytest.mark.parametrize("architecture", ["gpt2", "llama"])
def test_every_block_matches_a_per_sequence_brute_force(architecture, tiny_lm_dir, tokenizer):
    """GPT-2 (Conv1D, LayerNorm, two embeddings) and Llama (Linear, RMSNorm, untied head)."""
    if architecture == "gpt2":
        spec = ModelSpec.from_config("tiny", {"path": str(tiny_lm_dir)})
        model = load_causal_lm(spec, device="cpu").double().eval()
        model.set_output_embeddings(copy.deepcopy(model.lm_head))  # untied, as corrected mode does
        model.lm_head.weight = nn.Parameter(model.lm_head.weight.detach().clone())
    else:
        model = tiny_llama(len(tokenizer)).double()
    options = Task2VecOptions(mode="corrected", batch_size=5, seq_len=12, batches=1, minibatch=2)
    texts = ["a b c d e f g h i j k l m n", "x y", "one two three four five six", "q", "z z z z"]
    batch = draw_batches(texts, tokenizer, options, "x")[0]
    fast = corrected_fisher(model, batch, options, least_likely)
    slow = brute_force_rows(model, batch, least_likely)
    assert set(fast) == {id(m.weight) for m in model.modules() if "weight" in m._parameters}
    for key, expected in slow.items():
        if key in fast:
            np.testing.assert_allclose(fast[key], expected, rtol=1e-5, atol=1e-14)
    vector = embedding_vector(model, fast)
    assert vector.size == sum(v.numel() for v in fast.values())
    head_rows = fast[id(model.get_output_embeddings().weight)]
    assert (head_rows > 0).float().mean() == 1.0  # every vocabulary row is informative

    unsplit = corrected_fisher(
        model, batch, Task2VecOptions(**{**options.__dict__, "minibatch": 5}), least_likely
    )
    for key in fast:  # no dependence on how the batch is split
        np.testing.assert_allclose(fast[key], unsplit[key], rtol=1e-9, atol=1e-16)


def test_head_block_can_be_left_out(tiny_lm_dir, tokenizer):
    model = tiny_llama(len(tokenizer)).double()
    options = Task2VecOptions(mode="corrected", batch_size=2, seq_len=8, batches=1, minibatch=2)
    batch = draw_batches(["a b c d", "e f g"], tokenizer, options, "x")[0]
    without = Task2VecOptions(**{**options.__dict__, "include_head": False})
    rows = corrected_fisher(model, batch, without)
    assert id(model.lm_head.weight) not in rows and id(model.model.embed_tokens.weight) in rows


def test_padding_adds_nothing(tokenizer):
    """The old estimator shrank as padding or tokens per minibatch grew; this one is unchanged."""
    model = tiny_llama(len(tokenizer)).double()
    texts = ["alpha beta gamma delta epsilon", "zeta eta theta", "iota"]
    rows = []
    for seq_len, minibatch in ((8, 3), (40, 1)):
        options = Task2VecOptions(
            mode="corrected", batch_size=3, seq_len=seq_len, minibatch=minibatch
        )
        batch = draw_batches(texts, tokenizer, options, "x")[0]
        rows.append(corrected_fisher(model, batch, options, least_likely))
    for key in rows[0]:
        np.testing.assert_allclose(rows[0][key], rows[1][key], rtol=1e-9, atol=1e-16)


def test_an_unsupported_layer_is_named():
    class Scaled(nn.Module):
        def __init__(self):
            super().__init__()
            self.weight = nn.Parameter(torch.ones(3))

        def forward(self, x):
            return x * self.weight

    model = LinearSoftmax(vocab=4, dim=3)
    model.features = nn.Sequential(model.features, Scaled().double())
    batch = batch_of(torch.zeros(1, 2, dtype=torch.long), [2])
    with pytest.raises(ModelSpecError, match=r"probe module features.1 \(Scaled\) has no exact"):
        per_sequence_row_fisher(model, minibatches(batch, 1), lambda logits: torch.zeros(1, 2))


def test_head_fit_on_trimmed_states_equals_a_fit_on_padded_passes(tokenizer):
    """Computing hidden states without padding changes nothing the head is fitted on."""
    from dataalign.align.task2vec_embedding import body_states, fit_untied_head

    model = tiny_llama(len(tokenizer)).double()
    options = Task2VecOptions(mode="corrected", batch_size=4, seq_len=16, epochs=2, minibatch=2)
    texts = ["alpha beta gamma delta epsilon", "zeta", "eta theta iota kappa", "lambda mu"]
    batch = draw_batches(texts, tokenizer, options, "x")[0]
    fitted = copy.deepcopy(model)
    fit_untied_head(fitted, body_states(fitted, batch, options), batch["input_ids"], options)

    head = copy.deepcopy(model.lm_head)  # by hand: padded full passes, padding masked
    optimizer = torch.optim.AdamW(
        head.parameters(), lr=options.lr, eps=options.eps, weight_decay=options.weight_decay
    )
    with torch.no_grad():
        states = model.model(**batch).last_hidden_state
    for _ in range(options.epochs):
        for start in (0, 2):
            keep = batch["attention_mask"][start : start + 2, 1:].bool()
            inputs = states[start : start + 2, :-1][keep]
            targets = batch["input_ids"][start : start + 2, 1:][keep]
            optimizer.zero_grad()
            F.cross_entropy(head(inputs), targets).backward()
            optimizer.step()
    torch.testing.assert_close(fitted.lm_head.weight, head.weight, rtol=1e-9, atol=1e-12)


def autograd_embedding(model, batch, options, sampler):
    """The corrected embedding as it was computed before the closed-form gradients: the untied
    head fitted through autograd's cross-entropy and an unfused AdamW, then the Fisher through
    autograd's cross-entropy of the kept positions."""
    from dataalign.align.task2vec_embedding import body_states

    probe = copy.deepcopy(model)
    head = copy.deepcopy(probe.lm_head)
    head.weight = nn.Parameter(head.weight.detach().clone())
    states = body_states(probe, batch, options)
    optimizer = torch.optim.AdamW(
        head.parameters(), lr=options.lr, eps=options.eps, weight_decay=options.weight_decay
    )
    for _ in range(options.epochs):
        for start in range(0, len(states), options.minibatch):
            rows = range(start, min(start + options.minibatch, len(states)))
            inputs = torch.cat([states[r] for r in rows])
            targets = torch.cat([batch["input_ids"][r, 1 : len(states[r]) + 1] for r in rows])
            optimizer.zero_grad()
            F.cross_entropy(head(inputs), targets).backward()
            optimizer.step()
    probe.set_output_embeddings(head)
    return embedding_vector(probe, brute_force_rows(probe, batch, sampler))


def test_closed_form_gradients_give_the_autograd_estimate(tiny_lm_dir, tokenizer, monkeypatch):
    """fp32, several head epochs, the head's gradient built from many small chunks: the
    embedding equals the plain-autograd computation to 1e-5."""
    from dataalign.align import task2vec_embedding as embedding

    model = load_causal_lm(ModelSpec.from_config("tiny", {"path": str(tiny_lm_dir)}), device="cpu")
    monkeypatch.setattr(embedding, "HEAD_CHUNK", 3 * len(tokenizer))  # 3 positions per chunk
    options = Task2VecOptions(
        mode="corrected", batch_size=4, seq_len=12, batches=1, epochs=3, minibatch=2, lr=1e-2
    )
    texts = ["a b c d e f g h i j k l m n", "x y", "one two three four five six", "z z z z"]
    got = embedding.embed_task2vec(model, tokenizer, texts, options, sampler=least_likely)[0]
    batch = draw_batches(texts, tokenizer, options, "x")[0]
    torch.manual_seed(options.seed)
    expected = autograd_embedding(model.eval(), batch, options, least_likely)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-9)
