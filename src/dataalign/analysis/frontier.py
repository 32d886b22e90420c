"""Is alignment worth it? Every predictor of the better train set on one cost axis.

A researcher with K candidate train sets can rank them by alignment (no training), by a cheaper
proxy run on each (a smaller model, fewer tokens, a low learning rate, the target's own early
checkpoint: DataDecide's approach), or train the target on each. `frontier_table` scores every
predictor the same way — DataDecide's decision accuracy over every pair of train sets against the
target's seed-averaged loss (`decisions.decision_accuracy`, with its interval) — and puts its
measured cost beside it as a share of the target's. The ceiling is how often one seed's target
ranking agrees with the others' (seed noise bounds any predictor); the signal-to-noise ratio is the
spread of the train sets' seed-mean losses over the seed-to-seed SD (AI2's Signal and Noise: it
predicts decision accuracy).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from dataalign.analysis.costs import read_benchmark
from dataalign.analysis.decisions import decision_accuracy

TARGET = "target"  # the experiment's own models: what every predictor is scored against
CEILING = "ceiling"  # one seed's target ranking against the other seeds'
POOLED = "pooled"  # every benchmark's pairs together
KEYS = ["train", "eval", "seed"]
COLUMNS = [
    "eval",
    "predictor",
    "kind",
    "decision_accuracy",
    "decision_ci_low",
    "decision_ci_high",
    "decision_pairs",
    "wall_s",
    "cpu_s",
    "cost_share",
    "flops",
    "flops_share",
    "snr",
]


def seed_losses(evaluations: pd.DataFrame) -> pd.DataFrame:
    """One model's loss per (train, eval, seed): the evaluations' `ce` (mean nats per token)."""
    return evaluations[[*KEYS, "ce"]].sort_values(KEYS, ignore_index=True)


def predictor_points(
    score: pd.DataFrame, target: pd.DataFrame, units: Mapping[str, str]
) -> pd.DataFrame:
    """`decision_accuracy`'s points: `alignment` is the predictor's score (higher picks the train
    set), `ce` the target's loss of the same train set, benchmark and seed."""
    points = score[[*KEYS, "alignment"]].merge(target[[*KEYS, "ce"]], on=KEYS)
    points["unit"] = points["train"].map(lambda train: units.get(train, train))
    return points


def proxy_score(proxy: pd.DataFrame) -> pd.DataFrame:
    """A proxy ranks train sets by its own loss: the lower, the better (score = -loss)."""
    return proxy.assign(alignment=-proxy["ce"])[[*KEYS, "alignment"]]


def by_benchmark(points: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Each benchmark's points, then every benchmark's together (`POOLED`, pairs within each)."""
    return {
        **{str(e): group for e, group in points.groupby("eval", sort=False)},
        POOLED: points,
    }


def accuracy(points: pd.DataFrame) -> dict[str, float]:
    """Decision accuracy over every pair of train sets, with its 95% interval."""
    result = decision_accuracy(points, "ce", permutations=0, seed=0)
    keep = ["decision_accuracy", "decision_ci_low", "decision_ci_high", "decision_pairs"]
    return {key: result[key] for key in keep}


def ceiling_accuracy(target: pd.DataFrame, units: Mapping[str, str]) -> dict[str, float]:
    """How often one seed's ranking of the train sets agrees with the mean of the other seeds':
    decision accuracy with seed s's loss as the predictor, averaged over seeds (interval too).
    With two seeds both directions count the same pairs the same way."""
    seeds = sorted(target["seed"].unique())
    if len(seeds) < 2:
        return dict.fromkeys(
            ["decision_accuracy", "decision_ci_low", "decision_ci_high", "decision_pairs"], np.nan
        )
    rows = []
    for seed in seeds:
        one = target[target["seed"] == seed].drop(columns="seed")
        rest = target[target["seed"] != seed].groupby(["train", "eval"], as_index=False)["ce"]
        points = predictor_points(
            proxy_score(one.assign(seed=0)), rest.mean().assign(seed=0), units
        )
        rows.append(accuracy(points))
    return pd.DataFrame(rows).mean().to_dict()


def signal_to_noise(target: pd.DataFrame) -> pd.Series:
    """Per benchmark: the SD of the train sets' seed-mean losses over the seed-to-seed SD
    (pooled within train sets); NaN with one seed."""
    cells = target.groupby(["eval", "train"])["ce"]
    signal = cells.mean().groupby("eval").std(ddof=1)
    noise = np.sqrt(cells.var(ddof=1).groupby("eval").mean())
    return signal / noise


def training_flops(
    parameters: Sequence[int], steps: Sequence[float], tokens_per_step: int
) -> float:
    """6 N D summed over runs: N each run's parameters, D the tokens its steps processed."""
    return float(sum(6.0 * n * s * tokens_per_step for n, s in zip(parameters, steps, strict=True)))


def measured_cost(records: Sequence[str]) -> dict[str, float]:
    """Wall and CPU seconds summed over a predictor's jobs' benchmark records."""
    frame = pd.DataFrame([read_benchmark(path) for path in records], columns=["wall_s", "cpu_s"])
    return {"wall_s": float(frame["wall_s"].sum()), "cpu_s": float(frame["cpu_s"].sum())}


def frontier_table(
    target: pd.DataFrame,
    predictors: Mapping[str, tuple[str, pd.DataFrame]],
    costs: Mapping[str, Mapping[str, float]],
    units: Mapping[str, str],
) -> pd.DataFrame:
    """Per benchmark (and pooled), each predictor's decision accuracy against the target's
    seed-averaged loss and its cost as a share of the target's; the ceiling and the target's
    signal-to-noise ratio beside them.

    `target`: the experiment's losses per (train, eval, seed); `predictors`: name -> (kind,
    scores per (train, eval, seed), higher picks the train set: an alignment, or a proxy's
    `proxy_score`); `costs`: name -> wall_s, cpu_s, flops (the target's under `TARGET`).
    The cost share is of CPU seconds: wall time grows with whatever else the machine runs.
    """
    snr = signal_to_noise(target)
    base = costs[TARGET]
    scored = {
        name: (kind, by_benchmark(predictor_points(score, target, units)))
        for name, (kind, score) in predictors.items()
    }
    rows = []
    for benchmark, group in by_benchmark(target).items():
        for name, (kind, points) in scored.items():
            found = points.get(benchmark, points[POOLED].iloc[:0])
            rows.append({"eval": benchmark, "predictor": name, "kind": kind, **accuracy(found)})
            rows[-1] |= dict(costs[name])
        rows.append(
            {"eval": benchmark, "predictor": CEILING, "kind": CEILING}
            | ceiling_accuracy(group, units)
            | dict(base)
        )
    table = pd.DataFrame(rows)
    table["cost_share"] = table["cpu_s"] / base["cpu_s"]
    table["flops_share"] = table["flops"] / base["flops"]
    table["snr"] = table["eval"].map(snr)
    return table.reindex(columns=COLUMNS).reset_index(drop=True)


def frontier_markdown(table: pd.DataFrame, experiment: str) -> str:
    """The table, a sentence per benchmark: the best alignment metric and the best proxy, each
    with its decision accuracy and cost share, and the ceiling."""
    lines = [
        f"# Which predictor picks the better train set? ({experiment})",
        "",
        "Decision accuracy: over every pair of train sets on a benchmark, the share where the "
        "predictor ranks them as the target model's seed-averaged loss does (ties 1/2; 0.5 is "
        "chance), with its 95% interval. Cost: the predictor's jobs' CPU seconds as a share of "
        "training and evaluating the target on every train set. Ceiling: one seed's target "
        "ranking against the other seeds'. SNR: spread of the train sets' losses over the "
        "seed-to-seed SD.",
        "",
    ]
    for benchmark, group in table.groupby("eval", sort=False):
        pieces = []
        for kind in ("alignment", "proxy"):
            rows = group[group["kind"] == kind].dropna(subset=["decision_accuracy"])
            if len(rows):
                best = rows.loc[rows["decision_accuracy"].idxmax()]
                pieces.append(
                    f"best {kind} {best['predictor']} {best['decision_accuracy']:.2f} "
                    f"({best['decision_ci_low']:.2f}-{best['decision_ci_high']:.2f}) at "
                    f"{best['cost_share']:.1%} of the target's cost"
                )
        ceiling = group[group["kind"] == CEILING]["decision_accuracy"]
        if len(ceiling) and ceiling.notna().all():
            pieces.append(f"ceiling {ceiling.iloc[0]:.2f}")
        lines.append(f"- **{benchmark}**: " + "; ".join(pieces) + ".")
    shown = table.assign(
        decision_ci=table["decision_ci_low"].map("{:.2f}".format)
        + "-"
        + table["decision_ci_high"].map("{:.2f}".format)
    )
    columns = ["eval", "predictor", "kind", "decision_accuracy", "decision_ci", "decision_pairs"]
    columns += ["wall_s", "cost_share", "flops_share", "snr"]
    lines += ["", shown[columns].to_markdown(index=False, floatfmt=".3g"), ""]
    return "\n".join(lines)


def plot_frontier(table: pd.DataFrame, paths: Sequence[str]) -> None:
    """One panel per benchmark (and pooled): each predictor's decision accuracy with its 95%
    interval against its cost as a share of the target's (log axis); the ceiling as a band."""
    from dataalign.analysis.plots import pyplot, save_figure

    plt, sns = pyplot()
    benchmarks = list(dict.fromkeys(table["eval"]))
    figure, panels = plt.subplots(
        1, len(benchmarks), figsize=(4.2 * len(benchmarks), 3.8), sharey=True, squeeze=False
    )
    markers = {"alignment": "o", "proxy": "s"}
    colours = dict(zip(["alignment", "proxy"], sns.color_palette(n_colors=2), strict=True))
    for axes, benchmark in zip(panels[0], benchmarks, strict=True):
        group = table[table["eval"] == benchmark]
        ceiling = group[group["kind"] == CEILING].iloc[0]
        if pd.notna(ceiling["decision_accuracy"]):
            axes.axhspan(ceiling["decision_ci_low"], ceiling["decision_ci_high"], alpha=0.12)
            axes.axhline(ceiling["decision_accuracy"], linestyle="--", linewidth=1, label=CEILING)
        axes.axhline(0.5, color="grey", linestyle=":", linewidth=1, label="chance")
        for _, row in group[group["kind"] != CEILING].iterrows():
            if pd.isna(row["decision_accuracy"]) or not row["cost_share"] > 0:
                continue
            error = [
                [row["decision_accuracy"] - row["decision_ci_low"]],
                [row["decision_ci_high"] - row["decision_accuracy"]],
            ]
            axes.errorbar(
                row["cost_share"],
                row["decision_accuracy"],
                yerr=error,
                fmt=markers[row["kind"]],
                color=colours[row["kind"]],
                capsize=3,
            )
            axes.annotate(
                row["predictor"],
                (row["cost_share"], row["decision_accuracy"]),
                fontsize=7,
                xytext=(4, 3),
                textcoords="offset points",
            )
        axes.set_xscale("log")
        axes.set_title(benchmark)
        axes.set_xlabel("cost (share of the target's CPU time)")
    panels[0][0].set_ylabel("decision accuracy")
    panels[0][0].legend(fontsize=7, loc="lower right")
    save_figure(plt, figure, paths)
