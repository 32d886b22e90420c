"""Task2Vec on a tiny random GPT-2 and fixture text: properties, exact values, its error bar."""

from __future__ import annotations

import random

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from alignment_texts import MATH_A, MATH_B, PROSE_A
from helpers import PROSE, WORDS, sentence

from dataalign.align.metrics import align_embeddings
from dataalign.align.task2vec import (
    MIN_GROUPS,
    Task2VecOptions,
    batch_groups,
    batch_rows,
    group_pair_mean,
    task2vec_alignment,
    task2vec_distance,
    task2vec_diversity,
)
from dataalign.align.task2vec_embedding import (
    draw_batches,
    embed_task2vec,
    embedding_vector,
    reference_fisher,
    row_means,
)
from dataalign.errors import DatasetError, ModelSpecError
from dataalign.models import ModelSpec, load_causal_lm, load_tokenizer

OPTIONS = Task2VecOptions(batch_size=8, seq_len=16, batches=3, epochs=1, minibatch=4)


@pytest.fixture(scope="module")
def probe(tiny_lm_dir):
    spec = ModelSpec.from_config("tiny", {"path": str(tiny_lm_dir)})
    tokenizer = load_tokenizer(spec)
    return load_causal_lm(spec, vocab_size=len(tokenizer), device="cpu"), tokenizer


@pytest.fixture(scope="module", params=["reference", "corrected"])
def task2vec_embeddings(request, probe):
    model, tokenizer = probe
    options = Task2VecOptions(**{**OPTIONS.__dict__, "mode": request.param})
    return {
        name: embed_task2vec(model, tokenizer, texts, options, name)
        for name, texts in (("math_a", MATH_A), ("math_b", MATH_B), ("prose", PROSE_A))
    }


def test_task2vec_is_symmetric_in_unit_interval_and_tracks_similarity(task2vec_embeddings):
    e = task2vec_embeddings
    forward = task2vec_alignment(e["math_a"], e["prose"])
    backward = task2vec_alignment(e["prose"], e["math_a"])
    assert forward.value == pytest.approx(backward.value, abs=1e-12)
    same = task2vec_alignment(e["math_a"], e["math_b"])
    assert 0 <= forward.value <= 1 and 0 <= same.value <= 1
    assert same.value > forward.value
    assert same.n == 6  # batches, without rows
    # 3 batches, each its own group: too few for an error bar, and the row says so
    assert np.isnan([same.se, same.ci_low, same.ci_high]).all() and "fewer than" in same.note


def test_task2vec_same_seed_same_numbers(probe):
    model, tokenizer = probe
    options = Task2VecOptions(**{**OPTIONS.__dict__, "batches": 2})
    first = embed_task2vec(model, tokenizer, MATH_A, options)
    second = embed_task2vec(model, tokenizer, MATH_A, options)
    np.testing.assert_array_equal(first, second)


def test_task2vec_diversity_is_mean_distance_of_distinct_batches(task2vec_embeddings):
    e = task2vec_embeddings["math_a"]
    expected = np.mean([task2vec_distance(e[i], e[j]) for i in range(3) for j in range(i + 1, 3)])
    assert task2vec_diversity(e).value == pytest.approx(expected)


def test_reference_fisher_and_distance_match_a_hand_computation(tiny_lm_dir):
    """Reference Fisher (shifted labels, padding counted, grad^2 averaged) to 1e-6."""
    spec = ModelSpec.from_config("tiny", {"path": str(tiny_lm_dir)})
    tokenizer = load_tokenizer(spec)
    model = load_causal_lm(spec, vocab_size=len(tokenizer), device="cpu")
    for module in model.modules():  # no dropout: train mode becomes deterministic
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    options = Task2VecOptions(batch_size=6, seq_len=12, batches=1, epochs=0, minibatch=3)
    batch = draw_batches([*MATH_A[:6], "short"], tokenizer, options, "x")[0]
    labels = torch.randint(
        0, len(tokenizer), batch["input_ids"].shape, generator=torch.Generator().manual_seed(0)
    )
    chunks = iter(labels.split(3))
    fisher = reference_fisher(model, batch, options, sampler=lambda logits: next(chunks))
    vector = embedding_vector(model, row_means(fisher), exclude=model.lm_head)

    # by hand: for each minibatch, grad of mean_{b,t<T-1} -log p(label[b, t+1] | logits[b, t])
    squares = {}
    for start in (0, 3):
        ids, mask = (
            batch["input_ids"][start : start + 3],
            batch["attention_mask"][start : start + 3],
        )
        model.zero_grad()
        log_probs = F.log_softmax(model(input_ids=ids, attention_mask=mask).logits[:, :-1], -1)
        target = labels[start : start + 3, 1:]
        (-log_probs.gather(-1, target.unsqueeze(-1)).mean()).backward()
        for name, parameter in model.named_parameters():
            squares[name] = squares.get(name, 0) + parameter.grad**2 / 2
    order = ["transformer.wte.weight", "transformer.wpe.weight"]
    for layer in range(2):
        order += [
            f"transformer.h.{layer}.{n}.weight"
            for n in ("ln_1", "attn.c_attn", "attn.c_proj", "ln_2", "mlp.c_fc", "mlp.c_proj")
        ]
    order.append("transformer.ln_f.weight")
    by_hand = torch.cat([squares[n].reshape(squares[n].shape[0], -1).mean(1) for n in order])
    assert vector.shape == by_hand.shape  # vocab rows + positions + per-row means, no biases
    np.testing.assert_allclose(vector, by_hand.numpy(), rtol=1e-6, atol=1e-12)

    other = vector[::-1].copy()
    a, b = vector / (vector + other + 1e-8), other / (vector + other + 1e-8)
    by_hand_distance = 1 - np.dot(a, b) / np.sqrt(np.dot(a, a) * np.dot(b, b))
    assert task2vec_distance(vector, other) == pytest.approx(by_hand_distance, abs=1e-6)


def test_corrected_mode_unties_the_head_and_leaves_input_embedding(probe):
    from dataalign.align.task2vec_embedding import (
        body_states,
        fit_untied_head,
        reference_finetune_head,
    )

    model, tokenizer = probe
    batch = draw_batches(MATH_A, tokenizer, OPTIONS, "x")[0]
    import copy

    reference, corrected = copy.deepcopy(model), copy.deepcopy(model)
    reference_finetune_head(reference, batch, OPTIONS)
    states = body_states(corrected, batch, OPTIONS)
    fit_untied_head(corrected, states, batch["input_ids"], OPTIONS)
    original = model.transformer.wte.weight
    assert not torch.equal(reference.transformer.wte.weight, original)  # tied: input moved too
    assert torch.equal(corrected.transformer.wte.weight, original)
    assert corrected.lm_head.weight is not corrected.transformer.wte.weight
    assert not torch.equal(corrected.lm_head.weight, original)


def test_too_few_sequences_for_one_batch(probe):
    model, tokenizer = probe
    with pytest.raises(
        DatasetError, match=r"dataset 'tiny' has 3 sequences, fewer than one Task2Vec batch \(8\)"
    ):
        embed_task2vec(model, tokenizer, MATH_A[:3], OPTIONS, "tiny")


def test_probe_that_is_not_a_causal_lm(tmp_path):
    from transformers import BertConfig, BertModel

    BertModel(
        BertConfig(
            hidden_size=16,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=16,
            vocab_size=50,
        )
    ).save_pretrained(tmp_path)
    with pytest.raises(
        ModelSpecError, match=r"models.bert: .* is a BertModel, not a causal language model"
    ):
        load_causal_lm(ModelSpec.from_config("bert", {"path": str(tmp_path)}), device="cpu")


def test_task2vec_reads_only_the_texts_it_draws_from_a_parquet_subset(tokenizer, tmp_path):
    """A lazy column gives the same batches as the texts in memory, reading only drawn rows."""
    import copy

    import pyarrow as pa
    import pyarrow.parquet as pq

    from dataalign.align.task2vec import Task2VecOptions
    from dataalign.align.task2vec_embedding import draw_batches
    from dataalign.io import ParquetColumn

    tokenizer = copy.deepcopy(tokenizer)
    tokenizer.pad_token = tokenizer.eos_token
    texts = [f"theorem {' '.join(['prime'] * (i % 5 + 1))} lemma {i}" for i in range(300)]
    path = tmp_path / "subset.parquet"
    pq.write_table(pa.table({"text": texts}), path, row_group_size=64)
    options = Task2VecOptions(batch_size=4, seq_len=8, batches=3)
    column = ParquetColumn(path)
    taken = []
    original = column.take
    column.take = lambda positions: taken.append(len(positions)) or original(positions)
    lazy = draw_batches(column, tokenizer, options, "lazy")
    eager = draw_batches(texts, tokenizer, options, "eager")
    assert len(column) == 300 and taken == [12]  # 3 batches x 4 sequences, nothing else
    for a, b in zip(lazy, eager, strict=True):
        assert torch.equal(a["input_ids"], b["input_ids"])


def test_task2vec_se_measures_the_data_not_the_batch_draw(probe):
    """Fresh datasets of 32 sequences, each sequence maths or prose at random, 40 batches of 4
    (8 disjoint groups, each embedded 5 times): the reported SE is within 1.5x of the spread
    of the coefficient across fresh datasets. Resampling all 40 batches as if each were new
    data (the old estimator) reports an SE well below that spread."""
    model, tokenizer = probe
    options = Task2VecOptions(mode="corrected", batch_size=4, seq_len=16, batches=40, epochs=1)
    rng = random.Random(0)

    def embedding(seed: int) -> pd.DataFrame:
        texts = [sentence(rng, rng.choice([WORDS, PROSE]), 6, 14) for _ in range(32)]
        options_seed = Task2VecOptions(**{**options.__dict__, "seed": seed})
        vectors = embed_task2vec(model, tokenizer, texts, options_seed)
        rows = [r.tolist() for r in batch_rows(len(texts), options_seed)]
        return pd.DataFrame({"vector": list(vectors), "rows": rows})

    settings = {"bootstrap": 500, "seed": 0}
    results, naive = [], []
    for replicate in range(30):
        a, b = embedding(2 * replicate), embedding(2 * replicate + 1)
        assert len(set(batch_groups(a["rows"]))) == MIN_GROUPS
        results.append(align_embeddings("task2vec", a, b, settings))
        naive.append(task2vec_alignment(*(np.stack(e["vector"]) for e in (a, b)), 500, 0).se)
    spread = np.std([r.value for r in results], ddof=1)
    reported = np.sqrt(np.mean([r.se**2 for r in results]))
    assert spread / 1.5 < reported < 1.5 * spread
    assert np.sqrt(np.mean(np.square(naive))) < spread / 1.5
    assert all(r.n == 64 for r in results)  # the 32 sequences of each side


def two_way_pair_values(
    rng: np.random.Generator, groups: int, batches: int, spread: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray]:
    """Task2Vec-like pair values with mean 0: `batches` per side, batch k from group k mod
    `groups` (as `batch_rows` cuts them); a group effect shared by its batches (std spread[0] on
    one side, spread[1] on the other), batch noise (0.3) and pair noise (0.3)."""
    member = np.arange(batches) % groups
    a = rng.normal(0, spread[0], groups)[member] + rng.normal(0, 0.3, batches)
    b = rng.normal(0, spread[1], groups)[member] + rng.normal(0, 0.3, batches)
    return a[:, None] + b[None, :] + rng.normal(0, 0.3, (batches, batches)), member


@pytest.mark.parametrize("groups", [2, 3, MIN_GROUPS])
@pytest.mark.parametrize("spread", [(1.0, 1.0), (1.0, 0.0)], ids=["both sides", "one side"])
def test_task2vec_error_bar_covers_from_enough_groups_and_is_nan_below(groups, spread):
    """Pair values of known mean 0 with group effects on both sides (or one), 10 batches per
    side from `groups` groups, through the function `task2vec_alignment` calls. Below
    MIN_GROUPS groups se and CI are NaN with a note; at MIN_GROUPS the 95% CI covers the mean
    in 90-99% of 400 trials (both sides 0.97, one side 0.95), never with zero width. The landed
    percentile bootstrap covered 0.65 / 0.82 / 0.90 at 2 / 3 / 8 groups (one side: 0.55 / 0.74 /
    0.90)."""
    rng = np.random.default_rng(groups)
    covered, widths = [], []
    for trial in range(400 if groups >= MIN_GROUPS else 20):
        values, member = two_way_pair_values(rng, groups, 10, spread)
        result = group_pair_mean(values, (member, member), resamples=400, seed=trial)
        assert result.value == pytest.approx(values.mean())
        if groups < MIN_GROUPS:
            assert np.isnan([result.se, result.ci_low, result.ci_high]).all()
            assert f"{groups} and {groups} groups" in result.note
            continue
        assert result.note == "" and result.se > 0
        covered.append(result.ci_low <= 0 <= result.ci_high)
        widths.append(result.ci_high - result.ci_low)
    if groups >= MIN_GROUPS:
        assert 0.90 <= np.mean(covered) <= 0.99 and min(widths) > 0


def test_task2vec_warns_before_embedding_when_groups_are_too_few(caplog):
    """The embed job logs, before any probe work, batches that re-embed groups and subsets
    too small for an error bar; enough sequences for MIN_GROUPS batches log nothing."""
    from dataalign.align.task2vec import warn_few_groups

    options = Task2VecOptions(batch_size=8, batches=10)
    with caplog.at_level("WARNING", logger="dataalign.align.task2vec"):
        warn_few_groups(35, options, "small")
    assert "10 batches re-embed its 4 disjoint group(s)" in caplog.text
    assert "4 group(s) < 8" in caplog.text and "batch_size <= 4" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="dataalign.align.task2vec"):
        warn_few_groups(80, options, "large")
    assert caplog.text == ""
