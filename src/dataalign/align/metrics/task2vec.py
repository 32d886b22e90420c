"""Task2Vec: the diagonal Fisher information of a probe LM fine-tuned on each batch (§2); the
embedding is a `vector` per batch with the `rows` (sequences) it holds, a GPU job."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from dataalign.align.metrics import Metric, Settings, Texts
from dataalign.align.task2vec import OPTIONS
from dataalign.errors import ConfigError


def probe_model(probe: dict[str, Any]):
    """The probe LM and its tokenizer, from its {name, entry} spec."""
    from dataalign.models import ModelSpec, load_causal_lm, load_tokenizer

    spec = ModelSpec.from_config(**probe)
    tokenizer = load_tokenizer(spec)
    return load_causal_lm(spec, vocab_size=len(tokenizer)), tokenizer


def embed(texts: Texts, settings: Settings, name: str) -> pd.DataFrame:
    """Task2Vec reads only the texts its batches draw."""
    from dataalign.align.task2vec import Task2VecOptions, batch_rows
    from dataalign.align.task2vec_embedding import embed_task2vec

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


def probe_flops(settings: Settings) -> float:
    """6 N D of one subset: the probe's N parameters fine-tuned on its batches for `epochs`
    and passed over them once more for the Fisher (D = batches x batch_size x seq_len tokens)."""
    from dataalign.align.task2vec import Task2VecOptions
    from dataalign.resources import parameter_estimate

    options = Task2VecOptions(**settings["options"])
    tokens = options.batches * options.batch_size * options.seq_len * (options.epochs + 1)
    return 6.0 * (parameter_estimate(settings["probe"]["entry"]) or np.nan) * tokens


METRIC = Metric(
    "task2vec",
    on_gpu=True,
    embed=embed,
    align=align,
    align_keys=("seed",),
    model_key="probe",
    nested_options=True,
    options=OPTIONS,
    flops=probe_flops,
)
