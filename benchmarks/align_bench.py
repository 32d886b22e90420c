"""Alignment speed, side by side in one run: Task2Vec reference vs corrected, GZIP cached vs naive.

Same tiny GPT-2, same tokenizer, same batches for both Task2Vec modes; same texts for both GZIP
paths. Prints seconds and the speed-up ratios (targets: corrected >= 3x, GZIP cached >= 2x).

    python benchmarks/align_bench.py
"""

from __future__ import annotations

import argparse
import pathlib
import sysconfig
import time

import torch
from tokenizers import Tokenizer, models, pre_tokenizers, trainers
from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

from dataalign.align.compression import compressed_sizes, gzip_alignment, naive_gzip_alignment
from dataalign.align.task2vec import Task2VecOptions, embed_task2vec


def stdlib_texts(limit: int) -> list[str]:
    """Real text that is always present: paragraphs of the Python standard library's sources."""
    texts = []
    for path in sorted(pathlib.Path(sysconfig.get_paths()["stdlib"]).glob("*.py")):
        texts += [p.strip() for p in path.read_text(errors="replace").split("\n\n") if len(p) > 200]
        if len(texts) >= limit:
            break
    return texts[:limit]


def bpe_tokenizer(texts: list[str], vocab: int) -> PreTrainedTokenizerFast:
    core = Tokenizer(models.BPE(unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.train_from_iterator(
        texts, trainers.BpeTrainer(vocab_size=vocab, special_tokens=["<unk>", "<eos>"])
    )
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, unk_token="<unk>", eos_token="<eos>")
    tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def timed(function, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2, help="best of N timings")
    args = parser.parse_args()
    torch.set_num_threads(2)

    texts = stdlib_texts(600)
    tokenizer = bpe_tokenizer(texts, vocab=2000)
    torch.manual_seed(0)
    config = GPT2Config(n_layer=4, n_head=4, n_embd=256, n_positions=128, vocab_size=len(tokenizer))
    model = GPT2LMHeadModel(config).eval()
    options = dict(batch_size=32, seq_len=128, batches=2, epochs=5, minibatch=8)
    print(
        f"Task2Vec: GPT-2 {sum(p.numel() for p in model.parameters()) / 1e6:.2f}M params, "
        f"vocab {len(tokenizer)}, {options['batches']} batches of {options['batch_size']} x "
        f"{options['seq_len']} tokens, {options['epochs']} head epochs"
    )
    seconds = {}
    for mode in ("reference", "corrected"):
        run = Task2VecOptions(mode=mode, **options)
        seconds[mode] = timed(
            lambda run=run: embed_task2vec(model, tokenizer, texts, run), args.repeats
        )
        print(f"  {mode:<10} {seconds[mode] / options['batches']:7.3f} s per embedding")
    print(
        f"  corrected speed-up: {seconds['reference'] / seconds['corrected']:.2f}x (target >= 3x)"
    )

    a, b = texts[:150], texts[150:300]
    print(f"GZIP: {len(a)} x {len(b)} example pairs, level 9")
    naive = timed(lambda: naive_gzip_alignment(a, b), args.repeats)

    def cached() -> None:
        gzip_alignment(a, compressed_sizes(a), b, compressed_sizes(b), max_pairs=len(a) * len(b))

    fast = timed(cached, args.repeats)
    print(f"  naive (3 compressions per pair) {naive:7.3f} s")
    print(f"  cached (1 per pair, parallel)   {fast:7.3f} s")
    print(f"  GZIP speed-up: {naive / fast:.2f}x (target >= 2x)")


if __name__ == "__main__":
    main()
