"""Figures in the paper's style: performance against alignment, one colour per eval set."""

from __future__ import annotations

from pathlib import Path

import pandas as pd


def plot_alignment_vs_performance(
    points: pd.DataFrame,
    target: str,
    metric: str,
    base: pd.DataFrame | None,
    paths: list[str | Path],
) -> None:
    """Scatter with a regression line per eval set (Fig. 1/2); the base model as a dotted line.

    Points are labelled with their train set; saved to every path given (PNG, PDF, ...).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    sns.set_theme(style="whitegrid", context="paper")
    figure, axes = plt.subplots(figsize=(5.5, 4))
    palette = dict(zip(sorted(points["eval"].unique()), sns.color_palette(), strict=False))
    for name, group in points.groupby("eval"):
        sns.regplot(
            data=group, x="alignment", y=target, ax=axes, color=palette[name], ci=None,
            label=name, scatter_kws={"s": 30}, line_kws={"linewidth": 1.5},
        )  # fmt: skip
        for row in group.itertuples():
            axes.annotate(row.train, (row.alignment, getattr(row, target)), fontsize=7,
                          xytext=(3, 3), textcoords="offset points")  # fmt: skip
        if base is not None and name in set(base["eval"]):
            level = base.loc[base["eval"] == name, target].mean()
            axes.axhline(level, color=palette[name], linestyle=":", label=f"{name}: base model")
    axes.set_xlabel(f"{metric} alignment with the benchmark")
    axes.set_ylabel({"ppl": "perplexity", "ce": "cross-entropy (nats)"}.get(target, target))
    axes.legend(fontsize=7)
    figure.tight_layout()
    for path in paths:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path, dpi=150)
    plt.close(figure)
