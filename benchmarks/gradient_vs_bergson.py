"""Does an attribution library give the gradient strategy's choice? bergson against our sketch.

The `gradient` selection strategy (`dataalign.select.gradients`) scores a pool example by the
cosine of its per-example gradient, CountSketched, with the target's mean. bergson (EleutherAI)
computes per-example gradients too, unprojected or compressed by its own random projections.
On one small GPT-2 (2 blocks of width 64, SmolLM2's tokenizer, a few Adam steps on the texts
below) and the Linear/Conv1D weights of its last block, every method scores a pool of four
kinds of text against arithmetic targets; printed per method: Spearman with the exact scores,
the share of the exact top 10% it keeps, the share of its top 10% that is arithmetic, and
milliseconds per example (best of 2, one thread).

bergson is not a dependency; its package pins torchvision, torchaudio and bitsandbytes, which it
does not import here, so it is unpacked beside them without its dependencies:

    pip install --target /tmp/bergson --no-deps bergson==2.5.1 simple-parsing jaxtyping \
        wadler-lindig natsort petname torchopt peft ml_dtypes docstring-parser
    PYTHONPATH=/tmp/bergson python benchmarks/gradient_vs_bergson.py
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from common import gpt2, smollm2_tokenizer
from scipy import stats

from dataalign.select.gradients import GradientSketch, last_blocks, sketched

NUMBERS = "zero one two three four five six seven eight nine ten eleven twelve".split()


def arithmetic(rng: random.Random) -> str:
    a, b = rng.randint(0, 6), rng.randint(0, 6)
    operation, value = rng.choice([("plus", a + b), ("times", a * b), ("minus", a - b)])
    answer = NUMBERS[value] if 0 <= value < len(NUMBERS) else str(value)
    return (
        f"{rng.choice(['', 'so ', 'note that '])}{NUMBERS[a]} {operation} {NUMBERS[b]} is {answer}."
    )


def prose(rng: random.Random) -> str:
    who = rng.choice(["the old friend", "a young girl", "the farmer", "the baker"])
    did = rng.choice(["walked to", "looked at", "sang near", "waited by"])
    where = rng.choice(["the market", "the river", "a quiet garden", "the village road"])
    return f"{who} {did} {where} {rng.choice(['in the morning', 'after the rain', 'at night'])}."


def code(rng: random.Random) -> str:
    a, b = rng.sample(["x", "y", "total", "count", "i", "n"], 2)
    return rng.choice(
        [f"def f({a}): return {a} + {b}", f"for {a} in range({b}): {b} += {a}", f"if {a} > {b}:"]
    )


def theorem(rng: random.Random) -> str:
    a, b = rng.sample(["integer", "prime", "group", "ring", "function", "sum", "field"], 2)
    return rng.choice(
        [
            f"for every {a} there is a {b} such that the {a} is {b}.",
            f"lemma: every {a} divides the {b}.",
        ]
    )


SOURCES = {"arithmetic": arithmetic, "prose": prose, "code": code, "theorem": theorem}


def trained_model(tokenizer, texts: list[str], steps: int):
    """A 2-block GPT-2 after `steps` Adam steps on `texts`, so its gradients mean something."""
    model = gpt2(len(tokenizer), tokenizer.eos_token_id, layers=2, width=64)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for step in range(steps):
        batch = tokenizer(texts[step * 16 % len(texts) :][:16], padding=True, return_tensors="pt")
        labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
        model(**batch, labels=labels).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    return model.eval()


def cosine_scores(pool: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Each pool row's cosine with the normalised mean of the unit target rows."""

    def unit(rows: np.ndarray) -> np.ndarray:
        return rows / np.linalg.norm(rows, axis=1, keepdims=True)

    direction = unit(target).mean(axis=0)
    return unit(pool) @ (direction / np.linalg.norm(direction))


def exact_gradients(model, tokenizer, texts: list[str], seq_len: int) -> np.ndarray:
    """Exact per-example gradients of the last block's matrices (our hooks, no sketch)."""
    sketch = GradientSketch(model, 1, 16)
    rows = []
    for start in range(0, len(texts), 32):
        batch = tokenizer(
            texts[start : start + 32],
            padding=True,
            truncation=True,
            max_length=seq_len,
            return_tensors="pt",
        )
        batch = {key: batch[key] for key in ("input_ids", "attention_mask")}
        parts = sketch(batch, transform=lambda gradient, k: gradient.detach().clone())
        rows.append(torch.cat([p.reshape(len(p), -1) for p in parts], dim=1).double())
    return torch.cat(rows).numpy()


def bergson_gradients(model, tokenizer, texts, names, seq_len, run, **projection) -> np.ndarray:
    """bergson's per-example gradients of the same modules, held in memory (its run folder gets
    a progress file), mean loss over tokens as ours."""
    from bergson import CollectorComputer, GradientProcessor, IndexConfig, InMemoryCollector
    from datasets import Dataset

    ids = [tokenizer(t, truncation=True, max_length=seq_len)["input_ids"] for t in texts]
    data = Dataset.from_dict({"input_ids": ids})
    config = IndexConfig(run_path=str(run), loss_reduction="mean")
    config.partial_run_path.mkdir(parents=True, exist_ok=True)
    collector = InMemoryCollector(
        model=model.base_model,
        cfg=config,
        data=data,
        processor=GradientProcessor(**projection),
        target_modules=set(names),
    )
    batches = [list(range(s, min(s + 32, len(texts)))) for s in range(0, len(texts), 32)]
    computer = CollectorComputer(
        model=model, data=data, collector=collector, batches=batches, cfg=config
    )
    computer.run_with_collector_hooks(desc="bergson")
    keys = ["gradients"] if "gradients" in collector.gradients else sorted(names)
    return torch.cat([collector.gradients[k].float() for k in keys], dim=1).double().numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: the code path only")
    args = parser.parse_args()
    per_source, targets, steps = (10, 6, 5) if args.quick else (50, 20, 60)
    rng = random.Random(0)
    pool, kinds = [], []
    for kind, make in SOURCES.items():
        pool += [make(rng) for _ in range(per_source)]
        kinds += [kind] * per_source
    target = [arithmetic(rng) for _ in range(targets)]
    training = [make(rng) for make in SOURCES.values() for _ in range(200)]
    rng.shuffle(training)
    torch.set_num_threads(1)
    tokenizer = smollm2_tokenizer()
    model = trained_model(tokenizer, training, steps)
    seq_len = 32
    exact = cosine_scores(*(exact_gradients(model, tokenizer, t, seq_len) for t in (pool, target)))
    methods = {}
    for dimension in (8192, 1024):
        sketch = GradientSketch(model, 1, dimension)

        def ours(texts, sketch=sketch):
            return sketched(sketch, tokenizer, texts, seq_len, 32)

        methods[f"ours, CountSketch to {dimension}"] = ours
    try:
        import bergson
    except ImportError:
        print("bergson is not importable: only our sketch is measured (see the docstring)")
    else:
        names = {name.removeprefix("transformer.") for name, _ in last_blocks(model, 1)}
        model.requires_grad_(False)  # as bergson's own builder leaves the model
        model.get_input_embeddings().requires_grad_(True)
        folder = Path(tempfile.mkdtemp())
        for label, projection in {
            "bergson, unprojected": {},
            "bergson, per module p=45 (8,100)": {"projection_dim": 45},
            "bergson, global dense 8,192": {"projection_dim": 8192, "projection_target": "global"},
        }.items():

            def theirs(texts, projection=projection):
                return bergson_gradients(
                    model, tokenizer, texts, names, seq_len, folder / "run", **projection
                )

            methods[f"{label} ({bergson.__version__})"] = theirs
    top = max(len(pool) // 10, 1)
    best = set(np.argsort(-exact)[:top])
    arithmetic_rows = np.array(kinds) == "arithmetic"
    print(f"pool {len(pool)} (4 kinds), target {len(target)} arithmetic examples, top {top}")
    print(f"{'method':45s} spearman  kept top  arithmetic  ms/example")
    for label, gradients in methods.items():
        times = []
        for _ in range(2):
            start = time.perf_counter()
            on_pool = gradients(pool)
            times.append(time.perf_counter() - start)
        scores = cosine_scores(on_pool, gradients(target))
        chosen = np.argsort(-scores)[:top]
        rho = stats.spearmanr(scores, exact).statistic
        kept = len(best & set(chosen)) / top
        share = arithmetic_rows[chosen].mean()
        per_example = min(times) / len(pool) * 1e3
        print(f"{label:45s} {rho:8.3f}  {kept:8.2f}  {share:10.2f}  {per_example:10.2f}")


if __name__ == "__main__":
    main()
