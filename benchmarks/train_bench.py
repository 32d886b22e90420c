"""Training throughput: the `finetune` code path (Trainer) next to a plain PyTorch loop.

Same GPT-2 initialisation (4 x 256, SmolLM2's tokenizer, the demo's Python functions), same
packed blocks, same optimiser, schedule and clipping; both save the final weights. Prints
tokens/s of each and their ratio (target >= 0.9).

    python benchmarks/train_bench.py
    python benchmarks/train_bench.py --quick   # seconds: the test that it still runs
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from common import corpora, gpt2, smollm2_tokenizer
from torch.utils.data import DataLoader
from transformers import get_linear_schedule_with_warmup

from dataalign.train.trainer import PackedBlocks, TrainOptions, tokenize_texts, train_causal_lm


def plain_loop(model, blocks: PackedBlocks, options: TrainOptions, output: Path) -> None:
    """The reference point: the loop one would write by hand, nothing else."""
    model.train()
    loader = DataLoader(blocks, batch_size=options.batch_size, shuffle=True)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=options.lr, weight_decay=options.weight_decay
    )
    scheduler = get_linear_schedule_with_warmup(optimizer, 0, options.max_steps)
    step = 0
    while step < options.max_steps:
        for batch in loader:
            loss = model(**batch).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), options.max_grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
            step += 1
            if step == options.max_steps:
                break
    model.save_pretrained(output)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--quick", action="store_true", help="3 steps: seconds, for tests")
    args = parser.parse_args()
    if args.quick:
        args.steps = 3
    torch.set_num_threads(2)
    texts = corpora(600)["functions"]
    tokenizer = smollm2_tokenizer()
    options = TrainOptions(max_steps=args.steps, batch_size=8, seq_len=128, save_steps=10_000)
    ids = tokenize_texts(texts, tokenizer)
    blocks = PackedBlocks(ids, options.seq_len, tokenizer.pad_token_id)
    tokens = args.steps * options.batch_size * options.seq_len
    print(f"GPT-2 4x256, {args.steps} steps of {options.batch_size} x {options.seq_len} tokens")
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        plain_loop(gpt2(len(tokenizer)), blocks, options, Path(folder) / "plain")
        plain = tokens / (time.perf_counter() - start)
        start = time.perf_counter()
        train_causal_lm(
            gpt2(len(tokenizer)),
            tokenizer,
            ids,
            options,
            Path(folder) / "out",
            Path(folder) / "ckpt",
        )
        ours = tokens / (time.perf_counter() - start)
    print(f"  plain PyTorch loop  {plain:8.0f} tokens/s")
    print(f"  finetune code path  {ours:8.0f} tokens/s")
    print(f"  ratio: {ours / plain:.2f} (target >= 0.9)")


if __name__ == "__main__":
    main()
