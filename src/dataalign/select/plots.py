"""The selection figures: each strategy's benchmark loss, and a study's differences from random."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from dataalign.analysis.plots import TARGET_LABELS, pyplot, save_figure
from dataalign.select.summary import BETR, DSIR, FULL, RANDOM, UNTRAINED


def plot_selection(table: pd.DataFrame, target: str, paths: Sequence[str | Path]) -> None:
    """Benchmark loss of each strategy's models with its interval over seeds, one panel per
    benchmark; random's mean (dashed) and the untrained model (dotted) for reference."""
    plt, _ = pyplot()
    names = list(dict.fromkeys(table["eval"]))
    figure, panels = plt.subplots(
        1,
        len(names),
        figsize=(5.2 * len(names), 0.45 * table["strategy"].nunique() + 1.6),
        squeeze=False,
    )
    for axes, name in zip(panels[0], names, strict=True):
        rows = table[(table["eval"] == name) & (table["seeds"] > 1)].iloc[::-1]
        low, high = rows[f"{target}_ci_low"], rows[f"{target}_ci_high"]
        error = [rows[target] - low, high - rows[target]]
        axes.errorbar(rows[target], rows["strategy"], xerr=error, fmt="o", capsize=3)
        for reference, style in ((RANDOM, "--"), (UNTRAINED, ":")):
            level = table.loc[(table["eval"] == name) & (table["strategy"] == reference), target]
            if not level.empty:
                axes.axvline(level.iloc[0], color="grey", linestyle=style, label=reference)
        axes.set_xlabel(f"{name}: {TARGET_LABELS.get(target, target)} (95% CI over seeds)")
        axes.legend(fontsize=7)
    save_figure(plt, figure, paths)


def plot_selection_study(study: pd.DataFrame, paths: Sequence[str | Path]) -> None:
    """Each strategy's paired per-seed difference in benchmark loss from random (95% interval),
    one panel per target; DSIR's, `betr`'s and the whole pool's differences are drawn as
    reference lines (left of one: a lower mean loss; whether beyond noise is the table's paired
    test)."""
    plt, _ = pyplot()
    study = study.assign(target=study["experiment"] + ": " + study["eval"])
    targets = list(dict.fromkeys(study["target"]))
    strategies = [s for s in dict.fromkeys(study["strategy"]) if s != RANDOM]
    figure, panels = plt.subplots(
        1, len(targets), figsize=(4.6 * len(targets), 0.4 * len(strategies) + 1.8), squeeze=False
    )
    for axes, target in zip(panels[0], targets, strict=True):
        rows = study[study["target"] == target].set_index("strategy").reindex(strategies[::-1])
        low, high = rows["ce_vs_random_paired_ci_low"], rows["ce_vs_random_paired_ci_high"]
        shift = rows["ce_vs_random"]
        axes.errorbar(shift, rows.index, xerr=[shift - low, high - shift], fmt="o", capsize=3)
        axes.axvline(0, color="grey", linestyle="-", linewidth=0.8, label=RANDOM)
        for reference, style in ((DSIR, "--"), (BETR, "-."), (FULL, ":")):
            if reference in rows.index and not pd.isna(rows.loc[reference, "ce_vs_random"]):
                level = rows.loc[reference, "ce_vs_random"]
                axes.axvline(level, color="grey", linestyle=style, label=reference)
        axes.set_title(target, fontsize=9)
        axes.set_xlabel("CE minus random's, paired by seed (nats; 95% CI)", fontsize=8)
        axes.legend(fontsize=7)
    save_figure(plt, figure, paths)
