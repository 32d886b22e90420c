"""Figures in the paper's style: performance against alignment, one colour per eval set."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

TARGET_LABELS = {"ppl": "perplexity", "ce": "cross-entropy (nats)"}


def fit_caption(fit: Mapping[str, Any]) -> str:
    """r² with its CI and n as points and train sets: what a reader needs to weigh the fit."""
    n = f"n = {int(fit['n_points'])} points, {int(fit['n_train_sets'])} train sets"
    r2 = fit.get("r2", math.nan)
    if pd.isna(r2):
        return f"no fit ({n})"
    low, high = fit.get("r2_ci_low", math.nan), fit.get("r2_ci_high", math.nan)
    interval = f"descriptive 95% CI {low:.2f} to {high:.2f}"
    if pd.isna(low):
        interval = "no CI: too few train sets"
    return f"r² = {r2:.2f} ({interval})\n{n}"


def plot_alignment_vs_performance(
    points: pd.DataFrame,
    target: str,
    metric: str,
    fit: Mapping[str, Any],
    base: pd.DataFrame | None,
    paths: Sequence[str | Path],
) -> None:
    """Scatter with a regression line per eval set (Fig. 1/2); the base model as a dotted line.

    Every draw (seed) of a train set is its own point, so disjoint subsets of one dataset show
    up as a cluster (Fig. 5); each cluster is labelled once with its train set. The title is
    the headline `fit` (a correlation table row).
    """
    plt, sns = pyplot()
    figure, axes = plt.subplots(figsize=(5.5, 4.3))
    _draw_panel(axes, points, target, base, _palette(sns, points))
    axes.set_title(fit_caption(fit), fontsize=9)
    axes.set_xlabel(f"{metric} alignment with the benchmark")
    axes.legend(fontsize=7)
    save_figure(plt, figure, paths)


def plot_metrics_side_by_side(
    points_by_metric: Mapping[str, pd.DataFrame],
    fit_by_metric: Mapping[str, Mapping[str, Any]],
    target: str,
    base: pd.DataFrame | None,
    paths: Sequence[str | Path],
) -> None:
    """One panel per alignment metric with its headline fit in the title (the paper's Fig. 4).

    Whether better-aligned data gives a better model should not hinge on how alignment is
    measured; side by side, the slopes' signs and the r² values can be compared at a glance.
    """
    plt, sns = pyplot()
    metrics = list(points_by_metric)
    figure, panels = plt.subplots(
        1, len(metrics), figsize=(4.2 * len(metrics), 4.1), sharey=True, squeeze=False
    )
    palette = _palette(sns, pd.concat(points_by_metric.values()))
    for axes, metric in zip(panels[0], metrics, strict=True):
        _draw_panel(axes, points_by_metric[metric], target, base, palette)
        axes.set_title(f"{metric}: {fit_caption(fit_by_metric[metric])}", fontsize=9)
        axes.set_xlabel(f"{metric} alignment")
    panels[0][0].legend(fontsize=7)
    save_figure(plt, figure, paths)


def pyplot() -> tuple[Any, Any]:
    """pyplot and seaborn on a file backend, in the paper's theme (imported on first use)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    sns.set_theme(style="whitegrid", context="paper")
    return plt, sns


def _palette(sns: Any, points: pd.DataFrame) -> dict[str, Any]:
    return dict(zip(sorted(points["eval"].unique()), sns.color_palette(), strict=False))


def _draw_panel(
    axes: Any, points: pd.DataFrame, target: str, base: pd.DataFrame | None, palette: dict
) -> None:
    import seaborn as sns

    for name, group in points.groupby("eval"):
        sns.regplot(
            data=group,
            x="alignment",
            y=target,
            ax=axes,
            color=palette[name],
            ci=None,
            label=name,
            scatter_kws={"s": 30, "alpha": 0.8},
            line_kws={"linewidth": 1.5},
        )
        for train, cluster in group.groupby("train"):
            axes.annotate(
                train,
                (cluster["alignment"].mean(), cluster[target].mean()),
                fontsize=7,
                xytext=(3, 3),
                textcoords="offset points",
            )
        if base is not None and name in set(base["eval"]):
            level = base.loc[base["eval"] == name, target].mean()
            axes.axhline(level, color=palette[name], linestyle=":", label=f"{name}: base model")
    axes.set_ylabel(TARGET_LABELS.get(target, target))


def save_figure(
    plt: Any,
    figure: Any,
    paths: Sequence[str | Path],
    rect: tuple[float, float, float, float] = (0, 0, 1, 1),
) -> None:
    """Write `figure` to every path (PNG, PDF: by suffix) and free it; the panels are laid out
    within `rect` (a figure legend below them needs the bottom)."""
    figure.tight_layout(rect=rect)
    for path in paths:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path, dpi=150)
    plt.close(figure)


CURVES = {
    "loss": "training loss (nats)",
    "learning_rate": "learning rate",
    "grad_norm": "grad norm",
}


def plot_training_curves(history: pd.DataFrame, paths: Sequence[str | Path]) -> None:
    """Every model of an experiment by step: loss, learning rate and gradient norm, one colour
    per train set and one line style per seed, so a divergence or a schedule error shows."""
    plt, sns = pyplot()
    trains = list(dict.fromkeys(history["train"]))
    colours = dict(zip(trains, sns.color_palette(n_colors=len(trains)), strict=True))
    styles = dict(zip(sorted(history["seed"].unique()), ["-", "--", ":", "-."] * 8, strict=False))
    figure, panels = plt.subplots(1, len(CURVES), figsize=(4.6 * len(CURVES), 3.6))
    for axes, (column, label) in zip(panels, CURVES.items(), strict=True):
        for (train, seed), run in history.groupby(["train", "seed"], sort=False):
            axes.plot(
                run["step"],
                run[column],
                color=colours[train],
                linestyle=styles[seed],
                linewidth=1,
                label=f"{train} (seed {seed})",
            )
        axes.set_xlabel("optimizer step")
        axes.set_ylabel(label)
    panels[0].legend(fontsize=6, ncol=1 + len(trains) // 8)
    save_figure(plt, figure, paths)
