"""Alignment tables as researchers read them: a train x eval matrix with its standard errors."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd


def alignment_table(frames: Sequence[pd.DataFrame]) -> tuple[pd.DataFrame, str]:
    """The long table (one row per train seed x eval) and a Markdown matrix of `value ± se`.

    Seeds of one train set are disjoint draws, so a cell averages them and its SE combines
    theirs as independent estimates (sqrt of the summed variances over the number of draws).
    """
    long = pd.concat(frames, ignore_index=True)
    cells = long.groupby(["train", "eval"], sort=False).agg(
        alignment=("alignment", "mean"),
        se=("se", lambda se: float(np.sqrt(np.sum(np.square(se)))) / len(se)),
        draws=("seed", "nunique"),
    )
    cells["cell"] = [
        f"{a:.4f} ± {s:.4f}" for a, s in zip(cells["alignment"], cells["se"], strict=True)
    ]
    matrix = cells["cell"].unstack("eval")
    metric, draws = long["metric"].iloc[0], int(cells["draws"].max())
    header = (
        f"Alignment ({metric}): rows are train sets (mean of {draws} draw(s)), columns eval sets; "
        "± is the standard error from resampling both datasets' batches or examples. The CSV "
        "has per draw: std (spread of the pair values), se, ci_low, ci_high (95%), n (examples "
        "read), n_total (examples held) and sampling_se (the part of se from embedding a sample "
        "of a large subset); `note` says why a se is empty (Task2Vec: fewer than 8 disjoint "
        "groups of sequences on a side, where the ± reads nan).\n\n"
    )
    return long, header + matrix.to_markdown() + "\n"
