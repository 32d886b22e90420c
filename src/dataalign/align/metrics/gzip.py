"""GZIP: normalised compression distance between examples (§3.5), on CPU; the embedding is each
example's text with its compressed size, so pairs cost one compression of the concatenation."""

from __future__ import annotations

import pandas as pd

from dataalign.align.compression import OPTIONS as LIBRARY_OPTIONS
from dataalign.align.metrics import MAX_EXAMPLES, Metric, Settings, Texts

OPTIONS = {**LIBRARY_OPTIONS, "max_examples": MAX_EXAMPLES}


def embed(texts: Texts, settings: Settings, name: str) -> pd.DataFrame:
    from dataalign.align.compression import compressed_sizes

    texts = list(texts)
    return pd.DataFrame({"text": texts, "size": compressed_sizes(texts, settings["level"])})


def align(a: pd.DataFrame, b: pd.DataFrame, settings: Settings, workers: int):
    from dataalign.align.compression import gzip_alignment

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


METRIC = Metric(
    "gzip",
    on_gpu=False,
    embed=embed,
    align=align,
    embed_keys=("level", "max_examples", "seed"),
    align_keys=("seed", "max_pairs", "level"),
    options=OPTIONS,
)
