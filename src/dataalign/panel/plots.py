"""The panel's figure: each benchmark's score against the candidate's, model by model."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from dataalign.analysis.plots import pyplot, save_figure
from dataalign.panel.stats import FITS, fit_curve


def plot_panel(
    summary: pd.DataFrame,
    table: pd.DataFrame,
    candidate: str,
    fit: str,
    paths: Sequence[str | Path],
) -> None:
    """Each benchmark's (and control's) score against the candidate's, one panel each.

    Each model is a labelled point; the chosen fit is drawn, and the title gives tau, the
    partial tau given the controls, and the r² of every fit, so one sees which shape fits.
    """
    from dataalign.panel.scoring import SCORES  # here: scoring loads torch

    plt, _ = pyplot()
    names = table["benchmark"].tolist()
    figure, panels = plt.subplots(1, len(names), figsize=(4.4 * len(names), 4.0), squeeze=False)
    rows = table.set_index("benchmark")
    values = summary.pivot(index="model", columns="benchmark", values="value")
    kinds = summary.drop_duplicates("benchmark").set_index("benchmark")["kind"]
    for axes, name in zip(panels[0], names, strict=True):
        joined = values[[candidate, name]].dropna()
        x, y = joined[candidate].to_numpy(float), joined[name].to_numpy(float)
        axes.scatter(x, y, s=30)
        for model, (px, py) in zip(joined.index, zip(x, y, strict=True), strict=True):
            axes.annotate(
                str(model), (px, py), fontsize=7, xytext=(3, 3), textcoords="offset points"
            )
        grid = np.linspace(x.min(), x.max(), 200)
        curve = fit_curve(x, y, fit, grid) if len(x) >= 3 and np.ptp(y) > 0 else None
        if curve is not None:
            axes.plot(grid, curve, linewidth=1.2, label=f"{fit} fit")
            axes.legend(fontsize=7)
        row = rows.loc[name]
        r2 = ", ".join(f"{f} {row[f'{f}_r2']:.2f}" for f in FITS)
        partial = "" if np.isnan(row["partial_tau"]) else f", partial τ {row['partial_tau']:.2f}"
        axes.set_title(
            f"{name} ({row['role']}): τ {row['kendall_tau']:.2f}{partial}\nr²: {r2}", fontsize=8
        )
        axes.set_xlabel(
            f"{candidate}: {SCORES.get(kinds[candidate], kinds[candidate])}", fontsize=8
        )
        axes.set_ylabel(f"{name}: {SCORES.get(kinds[name], kinds[name])}", fontsize=8)
    save_figure(plt, figure, paths)
