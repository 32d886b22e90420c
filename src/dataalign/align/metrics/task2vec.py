"""Task2Vec: the diagonal Fisher information of a probe LM fine-tuned on each batch (§2); the
embedding is a `vector` per batch with the `rows` (sequences) it holds, a GPU job."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from dataalign.align.metrics import Metric, Settings, Texts
from dataalign.errors import ConfigError
from dataalign.plugins import option

OPTIONS = {  # also `Task2VecOptions`' defaults, through `dataalign.schemas.defaults`
    "probe": option("gpt2", "name under `models:` of the probe causal LM", type="string"),
    "mode": option(
        "reference",
        "`reference` reproduces the public code (quirks included); `corrected` fixes them and"
        " is faster (README)",
        enum=["reference", "corrected"],
    ),
    "batch_size": option(
        512,
        "sequences per batch (the paper: 512); must not exceed the subset's examples",
        type="integer",
        minimum=1,
    ),
    "seq_len": option(
        128,
        "tokens per sequence (padded/truncated, no packing)",
        type="integer",
        minimum=2,
    ),
    "batches": option(
        100,
        "batches per dataset. One seeded shuffle is cut into ⌊sequences / batch_size⌋ "
        "disjoint groups and batch *k* holds group *k* mod that number: with enough sequences"
        " every batch is new data; with fewer, a group is embedded again (new sampled labels)"
        " and the bootstrap draws groups, each with all its batches",
        type="integer",
        minimum=1,
    ),
    "epochs": option(5, "head fine-tuning epochs before the Fisher", type="integer", minimum=0),
    "minibatch": option(
        8,
        "minibatch size for fine-tuning and the Fisher",
        type="integer",
        minimum=1,
    ),
    "lr": option(5e-05, "AdamW's learning rate for the head", type="number", exclusiveMinimum=0),
    "eps": option(1e-08, "AdamW's epsilon", type="number", exclusiveMinimum=0),
    "weight_decay": option(0.0001, "AdamW's weight decay", type="number", minimum=0),
    "seed": option(
        0,
        "base seed of batches, dropout, sampled labels and the bootstrap",
        type="integer",
        minimum=0,
    ),
    "include_head": option(
        True,
        "`corrected` only: the untied head's vocabulary block enters the embedding (`false` "
        "leaves it out); in `reference` mode the tied head enters through the input "
        "embedding, as in the reference code",
        type="boolean",
    ),
}


def probe_model(probe: dict[str, Any]):
    """The probe LM and its tokenizer, from its {name, entry} spec."""
    from dataalign.models import ModelSpec, load_causal_lm, load_tokenizer

    spec = ModelSpec.from_config(**probe)
    tokenizer = load_tokenizer(spec)
    return load_causal_lm(spec, vocab_size=len(tokenizer)), tokenizer


def embed(texts: Texts, settings: Settings, name: str) -> pd.DataFrame:
    """Task2Vec reads only the texts its batches draw."""
    from dataalign.align.task2vec import Task2VecOptions, batch_rows, embed_task2vec

    model, tokenizer = probe_model(settings["probe"])
    options = Task2VecOptions(**settings["options"])
    vectors = embed_task2vec(model, tokenizer, texts, options, name)
    rows = batch_rows(len(texts), options)
    return pd.DataFrame({"vector": list(vectors), "rows": [r.tolist() for r in rows]})


def align(a: pd.DataFrame, b: pd.DataFrame, settings: Settings, workers: int):
    from dataalign.align.task2vec import batch_groups, task2vec_alignment

    if "rows" not in a or "rows" not in b:
        raise ConfigError(
            "a Task2Vec embedding has no `rows` column (it predates batches recorded by "
            "sequence). Fix: snakemake --forcerun embed"
        )
    vectors_a, vectors_b = (np.stack(e["vector"].to_numpy()) for e in (a, b))
    groups = (batch_groups(a["rows"]), batch_groups(b["rows"]))
    n = sum(len(set(np.concatenate(e["rows"].to_numpy()))) for e in (a, b))
    return task2vec_alignment(
        vectors_a, vectors_b, settings["bootstrap"], settings["seed"], groups, n
    )


METRIC = Metric(
    "task2vec",
    on_gpu=True,
    embed=embed,
    align=align,
    align_keys=("seed",),
    model_key="probe",
    nested_options=True,
    options=OPTIONS,
)
