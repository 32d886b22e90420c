"""Alignment tables as researchers read them: a train x eval matrix with its spread."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd


def alignment_table(frames: Sequence[pd.DataFrame]) -> tuple[pd.DataFrame, str]:
    """The long table (one row per train seed x eval) and a Markdown matrix of `value ± std`.

    Seeds of one train set are averaged in the matrix (their spread is in the long table).
    """
    long = pd.concat(frames, ignore_index=True)
    cells = long.groupby(["train", "eval"], sort=False).agg(
        alignment=("alignment", "mean"), std=("std", "mean")
    )
    cells["cell"] = [
        f"{a:.4f} ± {s:.4f}" for a, s in zip(cells["alignment"], cells["std"], strict=True)
    ]
    matrix = cells["cell"].unstack("eval")
    metric = long["metric"].iloc[0]
    header = f"Alignment ({metric}): rows are train sets, columns eval sets; ± is the std.\n\n"
    return long, header + matrix.to_markdown() + "\n"
