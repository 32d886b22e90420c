"""n-gram: 1 - the excess Jensen-Shannon divergence of hashed n-gram distributions, extrapolated
to remove its small-sample bias (`dataalign.align.ngram`), on CPU; the embedding is each
example's non-zero hashed `buckets` and their `counts`."""

from __future__ import annotations

import pandas as pd

from dataalign.align.metrics import MAX_EXAMPLES, Metric, Settings, Texts
from dataalign.align.ngram import OPTIONS as LIBRARY_OPTIONS

OPTIONS = {**LIBRARY_OPTIONS, "max_examples": MAX_EXAMPLES}


def embed(texts: Texts, settings: Settings, name: str) -> pd.DataFrame:
    from dataalign.align.ngram import ngram_counts

    return ngram_counts(list(texts), settings["n"], settings["buckets"])


def align(a: pd.DataFrame, b: pd.DataFrame, settings: Settings, workers: int):
    from dataalign.align.ngram import count_matrix, ngram_alignment

    counts_a, counts_b = (count_matrix(e, settings["buckets"]) for e in (a, b))
    return ngram_alignment(counts_a, counts_b, settings["bootstrap"], settings["seed"])


METRIC = Metric(
    "ngram",
    on_gpu=False,
    embed=embed,
    align=align,
    embed_keys=("n", "buckets", "max_examples", "seed"),
    align_keys=("seed", "buckets"),
    options=OPTIONS,
)
