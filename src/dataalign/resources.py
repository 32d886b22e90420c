"""What a job asks of a cluster, scaled from its model's size and the tokens it processes.

Rules call these at DAG time, so they read nothing heavier than config and file sizes: a model's
parameter count comes from `parameters:` in its config, from an architecture's dimensions, or
from the size of a local weights file. Unknown sizes fall back to the rule's defaults.
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Mapping
from typing import Any, NamedTuple

from dataalign.io import find_installed

GPU_FLOPS = 1e14  # a conservative bf16 rate for A100/H100-class GPUs...
UTILISATION = 0.3  # ...of which training typically achieves this share (MFU)
SAFETY = 2.0  # runtime requested over the estimate (the retry doubles it again)
ASSUMED_VOCAB = 50_257  # an architecture's vocabulary comes from its tokenizer; GPT-2's here
GGUF_BYTES_PER_PARAMETER = 0.6  # 4-5 bit quantisations, as shipped GGUF models mostly are


class Workload(NamedTuple):
    """What a model job loads (its model's config entry) and processes, to size its resources."""

    entry: Mapping[str, Any]
    tokens: float | None = None
    training: bool = False


def parameter_estimate(entry: Mapping[str, Any]) -> float | None:
    """Parameters of a model spec, cheaply; None when only loading it would tell."""
    if entry.get("parameters"):
        return float(entry["parameters"])
    if "architecture" in entry:
        arch = entry["architecture"]
        layers = arch.get("n_layer") or arch.get("num_hidden_layers")
        width = arch.get("n_embd") or arch.get("hidden_size")
        if layers and width:
            positions = arch.get("n_positions") or arch.get("max_position_embeddings") or 0
            return 12 * layers * width**2 + (ASSUMED_VOCAB + positions) * width
        return None
    location = entry.get("gguf") or entry.get("path")
    found = find_installed(location) if location else None
    if found is None:
        return None
    if found.is_file():
        return found.stat().st_size / GGUF_BYTES_PER_PARAMETER
    weights = sum(f.stat().st_size for f in found.glob("*.safetensors"))
    return weights / 4 if weights else None  # saved by this pipeline: fp32


def training_tokens(options: Mapping[str, Any], budget: int | None) -> float | None:
    """Tokens a training run processes: its steps' batches, else its budget times its epochs
    (None for a subset of unknown size, a whole dataset)."""
    if options["max_steps"] > 0:
        return (
            options["max_steps"]
            * options["batch_size"]
            * options["seq_len"]
            * options["grad_accum"]
        )
    return None if budget is None else budget * options["epochs"]


def job_resources(
    parameters: float | None,
    tokens: float | None,
    training: bool,
    attempt: int = 1,
    default_mb: int = 16_000,
    default_minutes: int = 120,
) -> dict[str, int]:
    """mem_mb and runtime (minutes) for a GPU job, growing with each retry.

    Host memory holds the fp32 weights (twice while loading) and the process; runtime is
    6 (training) or 2 (inference) FLOPs per parameter per token at the assumed GPU rate.
    """
    if parameters is None:
        return {"mem_mb": default_mb * attempt, "runtime": default_minutes * attempt}
    mem_mb = max(4_000, int(2_000 + 8 * parameters / 2**20))
    minutes = 30
    if tokens:
        flops = (6 if training else 2) * parameters * tokens
        minutes = max(minutes, math.ceil(SAFETY * flops / (GPU_FLOPS * UTILISATION) / 60))
    return {"mem_mb": mem_mb * attempt, "runtime": minutes * attempt}


SMALL_MODEL = 2e7  # parameters: below this, intra-op threads barely help a CPU job


def job_threads(parameters: float | None, most: int) -> int:
    """CPU threads for a model job: one for a small model (two such jobs side by side use two
    cores better than one job with two threads), `most` otherwise and when the size is unknown."""
    return 1 if parameters is not None and parameters < SMALL_MODEL else most


def gpu_count() -> int:
    """GPUs a GPU job asks for when run where the workflow is parsed: one if `nvidia-smi` is
    there, else none (a CPU-only laptop). On a cluster the profile asks for the GPU instead
    (profiles/slurm), so the compute node, not the submit host, decides."""
    return int(shutil.which("nvidia-smi") is not None)
