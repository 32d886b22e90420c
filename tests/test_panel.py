"""The model panel: answer log-likelihoods, rank correlations and the example-level signal."""

from __future__ import annotations

import random

import numpy as np
import pandas as pd
import pytest
import torch
from helpers import build_word_tokenizer, fixture_config, run_snakemake, write_config
from scipy import stats

from dataalign.analysis import example_signal, panel_correlations
from dataalign.errors import DatasetError
from dataalign.panel import (
    PromptFormat,
    answer_loglik,
    build_prompts,
    read_benchmark_scores,
    split_scores,
)

NUMBERS = range(20)
SNAPSHOTS = {"m250": 250, "m300": 300, "m400": 400, "m550": 550, "m800": 800}  # training steps
PROMPT = PromptFormat()


def qa(a: int, answer: int | None = None) -> dict:
    """A question whose answer key is the successor of a number (or a planted wrong answer)."""
    return {
        "question": f"what comes after {a} ?",
        "answer": str(a + 1 if answer is None else answer),
    }


@pytest.fixture(scope="module")
def panel(tmp_path_factory):
    """Snapshots of one tiny GPT-2 taken after 10 to 400 steps on the successor task.

    More steps, better model: the quality order is known by construction. Each training text
    is a 1-shot prompt in the format the panel scores, so the model learns that format.
    """
    import copy

    from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel

    table = [qa(a) for a in NUMBERS]
    rng = random.Random(0)

    def one(row: dict) -> str:
        return PROMPT.question.format(**row) + PROMPT.answer.format(**row)

    texts = [one(rng.choice(table)) + PROMPT.separator + one(rng.choice(table)) for _ in range(600)]
    folder = build_word_tokenizer(tmp_path_factory.mktemp("successor_tok"), [*texts, "0 21 22 23"])
    tokenizer = AutoTokenizer.from_pretrained(folder)
    ids = [t for text in texts for t in tokenizer(text)["input_ids"] + [tokenizer.eos_token_id]]
    blocks = torch.tensor(ids[: len(ids) // 64 * 64]).view(-1, 64)
    torch.manual_seed(0)
    config = GPT2Config(n_layer=2, n_head=4, n_embd=64, n_positions=128, vocab_size=len(tokenizer))
    model = GPT2LMHeadModel(config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    snapshots, generator = {}, torch.Generator().manual_seed(0)
    for step in range(1, max(SNAPSHOTS.values()) + 1):
        batch = blocks[torch.randint(len(blocks), (16,), generator=generator)]
        model(input_ids=batch, labels=batch).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        for name in [n for n, s in SNAPSHOTS.items() if s == step]:
            snapshots[name] = copy.deepcopy(model).eval()
    return snapshots, tokenizer


def score(models, tokenizer, rows: list[dict], dataset: str) -> pd.DataFrame:
    frame = pd.DataFrame(rows).assign(row=range(len(rows)))
    prompts = build_prompts(frame, PROMPT, None, seed=0, dataset=dataset)
    frames = []
    for name, model in models.items():
        scores = answer_loglik(model, tokenizer, prompts["context"], prompts["continuation"], 8)
        frames.append(scores.assign(model=name, dataset=dataset, row=prompts["row"].to_numpy()))
    return pd.concat(frames, ignore_index=True)


def test_candidate_ranks_models_like_the_benchmark_and_flags_a_wrong_answer_key(panel):
    models, tokenizer = panel
    rng = random.Random(1)
    planted = {3, 11, 17, 26}  # candidate rows whose answer key is wrong
    candidate = [qa(a, (a + 7) % 21 if i in planted else None)
                 for i, a in enumerate(rng.choices(NUMBERS, k=41))]  # fmt: skip
    benchmark = [qa(a) for a in rng.choices(NUMBERS, k=41)]
    scores = pd.concat([score(models, tokenizer, candidate, "cand"),
                        score(models, tokenizer, benchmark, "bench")])  # fmt: skip
    totals, bench = split_scores(scores, "cand")
    assert set(bench["benchmark"]) == {"bench"}
    assert bench.set_index("model")["score"][list(SNAPSHOTS)].is_monotonic_increasing
    # The rows with a right key rank the models like the benchmark. (A confident model puts
    # several nats on each wrong key, so the total over all rows need not: flags catch those.)
    clean = scores[(scores["dataset"] == "bench") | ~scores["row"].isin(planted)]
    table = panel_correlations(split_scores(clean, "cand")[0], bench)
    assert table.loc[0, "kendall_tau"] > 0.5
    assert set(totals.index) == set(SNAPSHOTS)

    examples = scores[scores["dataset"] == "cand"]
    scored = set(examples["row"])  # one planted row may have become the 1-shot example
    wrong = planted & scored
    assert len(wrong) >= 3
    signal = example_signal(examples, bench.set_index("model")["score"])
    flagged = set(signal.loc[signal["negative"], "row"])
    assert wrong <= flagged
    assert len(flagged - wrong) <= 0.2 * (len(scored) - len(wrong))


def test_corrected_p_values_equal_statsmodels_multipletests():
    from statsmodels.stats.multitest import multipletests

    rng = np.random.default_rng(0)
    models = [f"m{i}" for i in range(8)]
    totals = pd.Series(rng.normal(-1000, 50, 8), index=models)
    rows = []
    for k, noise in enumerate((5, 40, 200)):
        for m in models:
            rows.append(
                {"model": m, "benchmark": f"b{k}", "score": totals[m] / 10 + rng.normal(0, noise)}
            )
    table = panel_correlations(totals, pd.DataFrame(rows))
    raw = table["kendall_p"].to_numpy()
    for method in ("holm", "bonferroni"):
        np.testing.assert_allclose(
            table[f"kendall_p_{method}"], multipletests(raw, method=method)[1]
        )
    scores = pd.DataFrame(rows).query("benchmark == 'b0'").set_index("model")["score"]
    tau, p_value = stats.kendalltau(totals[scores.index], scores)
    assert table.loc[0, "kendall_tau"] == pytest.approx(tau) and raw[0] == pytest.approx(p_value)
    x = totals[scores.index].to_numpy()
    assert table.loc[0, "log_r2"] == pytest.approx(np.corrcoef(np.log(-x), scores)[0, 1] ** 2)


def test_answer_loglik_is_the_sum_over_answer_tokens_and_batch_invariant(tiny_lm_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_lm_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(tiny_lm_dir)
    contexts = ["the proof of the theorem", "a prime", "every real function is"]
    answers = [" is bounded", " divides the sum of a ring", " continuous"]
    one = answer_loglik(model, tokenizer, contexts, answers, batch_size=1)
    many = answer_loglik(model, tokenizer, contexts, answers, batch_size=3)
    np.testing.assert_allclose(one["loglik"], many["loglik"], rtol=1e-5)
    head, tail = tokenizer(contexts[1])["input_ids"], tokenizer(answers[1])["input_ids"]
    with torch.no_grad():
        logprobs = torch.log_softmax(model(torch.tensor([head + tail])).logits[0], -1)
    direct = sum(float(logprobs[len(head) - 1 + i, t]) for i, t in enumerate(tail))
    assert one.loc[1, "loglik"] == pytest.approx(direct, rel=1e-5)
    assert one["n_answer_tokens"].tolist() == [2, 6, 1]


def test_prompts_share_fixed_shots_that_are_never_scored():
    rows = pd.DataFrame([qa(a, 1) for a in range(10)]).assign(row=range(10))
    prompts = build_prompts(rows, PromptFormat(shots=2), 5, seed=3, dataset="d")
    assert len(prompts) == 5
    shots = {prompts["context"][0].split("\n\n")[i] for i in range(2)}
    assert all(
        c.split("\n\n")[:2] == prompts["context"][0].split("\n\n")[:2] for c in prompts["context"]
    )
    assert not any(PromptFormat().question.format(**rows.iloc[r]) in s
                   for r in prompts["row"] for s in shots)  # fmt: skip
    with pytest.raises(DatasetError, match=r"dataset 'd' has 10 rows; the panel needs 12"):
        build_prompts(rows, PromptFormat(shots=2), 10, seed=0, dataset="d")
    with pytest.raises(DatasetError, match=r"use field\(s\) \['problem'\]"):
        build_prompts(rows, PromptFormat(question="{problem}"), 5, seed=0, dataset="d")


def test_benchmark_score_table_is_checked(tmp_path):
    path = tmp_path / "scores.csv"
    path.write_text("model,benchmark,score\na,gsm8k,0.1\nb,gsm8k,0.3\nz,gsm8k,0.9\n")
    table = read_benchmark_scores(str(path), ["a", "b"])
    assert table["model"].tolist() == ["a", "b"]
    with pytest.raises(DatasetError, match=r"no score for panel model\(s\) \['c'\]"):
        read_benchmark_scores(str(path), ["a", "b", "c"])
    path.write_text("name,score\n")
    with pytest.raises(DatasetError, match=r"missing column\(s\) \['benchmark', 'model'\]"):
        read_benchmark_scores(str(path), ["a"])


def test_panel_workflow_scores_pipeline_trained_models_against_a_score_table(
    fixture_data, tiny_lm_dir, tmp_path
):
    """The DAG end to end: members the pipeline trains first, a supplied CSV as benchmark."""
    config = fixture_config(fixture_data, tiny_lm_dir)
    members = {
        "words": None,
        "on_pairs": ("pairs", 0),
        "on_prose": ("prose", 0),
        "on_mix": ("mix", 1),
    }
    for name, source in members.items():
        if source:
            config["models"][name] = {
                "trained": {"experiment": "demo", "train": source[0], "seed": source[1]}
            }
    table = tmp_path / "leaderboard.csv"
    table.write_text("model,benchmark,score\n" + "".join(
        f"{m},board,{i}\n{m},other,{-i}\n" for i, m in enumerate(members)))  # fmt: skip
    config["experiments"]["panel"] = {
        "kind": "panel",
        "models": list(members),
        "candidate": "pairs",
        "benchmark_scores": str(table),
        "prompt": {
            "question": "informal statement {informal} formal statement",
            "answer": " {formal}",
        },
        "examples": 20,
    }
    # a second panel on the same members: their scoring jobs serve both, one model load each
    config["experiments"]["panel_split"] = {
        **config["experiments"]["panel"], "candidate": "pairs_split", "examples": 10,
        "prompt": {"question": "statement", "answer": " {informal}"},
    }  # fmt: skip
    configfile = write_config(config, tmp_path / "config.yaml")
    targets = [f"results/tables/{p}/panel_correlation.csv" for p in ("panel", "panel_split")]
    jobs = run_snakemake(tmp_path, configfile, targets)
    rules = pd.Series([j.rule for j in jobs]).value_counts()
    assert rules["finetune"] == 3 and rules["score_panel"] == 4  # one job per member
    for member in members:
        (log,) = (tmp_path / "logs/score_panel" / member).glob("*.log")
        assert log.read_text().count(f"loaded {member}: ") == 1
        (path,) = (tmp_path / "results/panel" / member).glob("scores-*.parquet")
        assert set(pd.read_parquet(path)["dataset"]) == {"pairs", "pairs_split"}
    result = pd.read_csv(tmp_path / "results/tables/panel/panel_correlation.csv")
    assert result["benchmark"].tolist() == ["board", "other"]
    assert result["kendall_tau"].iloc[0] == pytest.approx(-result["kendall_tau"].iloc[1])
    scores = pd.concat(
        pd.read_parquet(next((tmp_path / "results/panel" / m).glob("scores-*.parquet")))
        for m in members
    )
    totals = scores.groupby("model")["loglik"].sum()[list(members)]
    assert result["kendall_tau"].iloc[0] == pytest.approx(stats.kendalltau(totals, range(4))[0])
    examples = pd.read_csv(tmp_path / "results/tables/panel/panel_examples.csv")
    assert len(examples) == 2 * 20 and set(examples["benchmark"]) == {"board", "other"}
    assert (tmp_path / "results/plots/panel/panel.pdf").stat().st_size


def test_quantized_loading_falls_back_to_full_precision_on_cpu(tiny_lm_dir, caplog):
    from dataalign.models import ModelSpec, load_causal_lm

    spec = ModelSpec.from_config("words", {"path": str(tiny_lm_dir), "quantize": "8bit"})
    model = load_causal_lm(spec, device="cpu")
    assert next(model.parameters()).dtype == torch.float32
    assert "models.words: quantize needs CUDA" in caplog.text
