"""One entry point per stage for every metric: embed a subset once, align two embeddings.

Embeddings are tables so they cache as Parquet: Task2Vec stores a `vector` per batch with the
`rows` (sequences) it holds, SBERT a `vector` per example; GZIP stores each example's `text`
with its compressed `size`; n-gram its non-zero hashed `buckets` and their `counts`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from dataalign.align.compression import compressed_sizes, gzip_alignment
from dataalign.align.ngram import count_matrix, ngram_alignment, ngram_counts
from dataalign.align.sbert import embed_sentences, load_sentence_model, sbert_alignment
from dataalign.align.stats import Alignment
from dataalign.align.task2vec import (
    Task2VecOptions,
    batch_groups,
    batch_rows,
    embed_task2vec,
    task2vec_alignment,
)
from dataalign.errors import ConfigError
from dataalign.io import ParquetColumn
from dataalign.models import ModelSpec, load_causal_lm, load_tokenizer, resolve_location

METRICS = ("task2vec", "gzip", "sbert", "ngram")


def embed_subset(
    metric: str, texts: Sequence[str] | ParquetColumn, settings: dict[str, Any], name: str
) -> pd.DataFrame:
    """Embed one subset's texts with `metric`; `settings` is that metric's config slice.

    task2vec: {probe: {name, spec}, options}; sbert: {model: {name, spec}, batch_size};
    gzip: {level}; ngram: {n, buckets}. Task2Vec reads only the texts it draws; the others
    embed every text.
    """
    if metric != "task2vec":
        texts = list(texts)
    if metric == "gzip":
        return pd.DataFrame({"text": texts, "size": compressed_sizes(texts, settings["level"])})
    if metric == "ngram":
        return ngram_counts(texts, settings["n"], settings["buckets"])
    if metric == "task2vec":
        model, tokenizer = probe_model(settings["probe"])
        options = Task2VecOptions(**settings["options"])
        vectors = embed_task2vec(model, tokenizer, texts, options, name)
        rows = batch_rows(len(texts), options)
        return pd.DataFrame({"vector": list(vectors), "rows": [r.tolist() for r in rows]})
    if metric == "sbert":
        vectors = embed_sentences(sentence_model(settings["model"]), texts, settings["batch_size"])
        return pd.DataFrame({"vector": list(vectors)})
    raise ConfigError(f"unknown alignment metric {metric!r}; use one of {list(METRICS)}.")


def probe_model(probe: dict[str, Any]):
    """The Task2Vec probe LM and its tokenizer, from its {name, entry} spec."""
    spec = ModelSpec.from_config(**probe)
    tokenizer = load_tokenizer(spec)
    return load_causal_lm(spec, vocab_size=len(tokenizer)), tokenizer


def sentence_model(model: dict[str, Any]):
    """The SBERT sentence model, from its {name, entry} spec (a local folder or a Hub id)."""
    spec = ModelSpec.from_config(**model)
    return load_sentence_model(resolve_location(spec.path, spec.name) if spec.path else spec.hub)


def align_embeddings(
    metric: str, a: pd.DataFrame, b: pd.DataFrame, settings: dict[str, Any], workers: int = 2
) -> Alignment:
    """Combine two cached embeddings into an alignment coefficient (cheap; no model needed)."""
    if metric == "gzip":
        return gzip_alignment(
            a["text"].tolist(),
            a["size"].to_numpy(),
            b["text"].tolist(),
            b["size"].to_numpy(),
            max_pairs=settings["max_pairs"],
            seed=settings["seed"],
            level=settings["level"],
            workers=workers,
            resamples=settings["bootstrap"],
        )
    if metric == "ngram":
        counts_a, counts_b = (count_matrix(e, settings["buckets"]) for e in (a, b))
        return ngram_alignment(counts_a, counts_b, settings["bootstrap"], settings["seed"])
    vectors_a, vectors_b = np.stack(a["vector"].to_numpy()), np.stack(b["vector"].to_numpy())
    if metric == "task2vec":
        if "rows" not in a or "rows" not in b:
            raise ConfigError(
                "a Task2Vec embedding has no `rows` column (it predates batches recorded by "
                "sequence). Fix: snakemake --forcerun embed"
            )
        groups = (batch_groups(a["rows"]), batch_groups(b["rows"]))
        n = sum(len(set(np.concatenate(e["rows"].to_numpy()))) for e in (a, b))
        return task2vec_alignment(
            vectors_a, vectors_b, settings["bootstrap"], settings["seed"], groups, n
        )
    if metric == "sbert":
        return sbert_alignment(vectors_a, vectors_b, settings["bootstrap"], settings["seed"])
    raise ConfigError(f"unknown alignment metric {metric!r}; use one of {list(METRICS)}.")
