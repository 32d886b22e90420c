"""Is alignment worth it? Every predictor of the better train set on one cost axis.

A researcher with K candidate train sets can rank them by alignment (no training), by a cheaper
proxy run on each (a smaller model, fewer tokens, a low learning rate, the target's own early
checkpoint: DataDecide's approach), or train the target on each. `frontier_table` scores every
predictor the same way — DataDecide's decision accuracy over every pair of train sets against the
target's loss (`decisions.decision_accuracy`, with its interval), each seed's predictor against
the target's other seeds — and puts its measured cost beside it as a share of the target's. The
ceiling is the target itself scored so: how often one more target run ranks the train sets as the
others do; `noise_free` is the most a predictor without the target's seed noise could reach. The
signal-to-noise ratio is the spread of the train sets' true losses over the seed-to-seed SD
(AI2's Signal and Noise found such a ratio predicts decision accuracy).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from dataalign.analysis.costs import read_benchmark
from dataalign.analysis.decisions import decision_accuracy

TARGET = "target"  # the experiment's own models: what every predictor is scored against
CEILING = "ceiling"  # one seed's target ranking against the other seeds'
NOISE_FREE = "noise_free"  # the most a predictor without the target's seed noise can reach
ACCURACY = ["decision_accuracy", "decision_ci_low", "decision_ci_high", "decision_pairs"]
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
) -> list[pd.DataFrame]:
    """`decision_accuracy`'s points, one set per seed s: `alignment` is the predictor's score of
    draw s (higher picks the train set), `ce` the target's loss averaged over its *other*
    seeds. Scoring across seeds keeps a predictor that shares draw s with the target (its own
    early checkpoint, a metric of the same subset) from being credited for predicting that
    draw's noise. Every target cell is kept; a cell the predictor lacks has no alignment and
    its pairs are left out. With one seed: the same seed (and the credit it gives)."""
    seeds = sorted(target["seed"].unique())
    points = []
    for seed in seeds:
        others = target[target["seed"] != seed] if len(seeds) > 1 else target
        reference = others.groupby(["train", "eval"], as_index=False, sort=False)["ce"].mean()
        mine = score.loc[score["seed"] == seed, ["train", "eval", "alignment"]]
        joined = reference.merge(mine, on=["train", "eval"], how="left").assign(seed=seed)
        joined["unit"] = joined["train"].map(lambda train: units.get(train, train))
        points.append(joined)
    return points


def proxy_score(proxy: pd.DataFrame) -> pd.DataFrame:
    """A proxy ranks train sets by its own loss: the lower, the better (score = -loss)."""
    return proxy.assign(alignment=-proxy["ce"])[[*KEYS, "alignment"]]


def accuracy(points: list[pd.DataFrame], benchmark: str) -> dict[str, float]:
    """Decision accuracy over every pair of train sets on `benchmark` (or `POOLED`: pairs within
    each benchmark) and every seed, with one 95% interval: each seed's ranking is a column of
    the same train sets, as a benchmark is, so the seeds' shared and separate errors both reach
    the interval. `decision_pairs` counts pairs of train sets, once (per seed)."""
    chosen = [
        frame if benchmark == POOLED else frame[frame["eval"] == benchmark] for frame in points
    ]
    columns = pd.concat(chosen, ignore_index=True)
    columns["eval"] = columns["eval"] + "/seed " + columns["seed"].astype(str)
    result = decision_accuracy(columns, "ce", permutations=0, seed=0)
    return {key: result[key] for key in ACCURACY} | {
        "decision_pairs": result["decision_pairs"] / len(points)
    }


def noise_free(ceiling: Mapping[str, float]) -> dict[str, float]:
    """The most a predictor without the target's seed noise can reach against one seed, from
    the seed-to-seed agreement c: under normal noise c = 1/2 + asin(rho)/pi with rho the
    reliability of one seed's ranking, and a noise-free predictor reaches 1/2 + asin(sqrt
    rho)/pi (applied to the interval's ends too: it is monotone)."""

    def lift(c: float) -> float:
        rho = np.clip(np.sin(np.pi * (c - 0.5)), 0.0, 1.0)
        return float(0.5 + np.arcsin(np.sqrt(rho)) / np.pi)

    keys = ["decision_accuracy", "decision_ci_low", "decision_ci_high"]
    return {**ceiling, **{key: lift(ceiling[key]) for key in keys}}


def signal_to_noise(target: pd.DataFrame) -> pd.Series:
    """Per benchmark: the SD of the train sets' true losses over the seed-to-seed SD, by moments:
    the variance of the seed means less the noise they keep (pooled within-train-set variance
    over the seeds), floored at 0; NaN with one seed. (AI2's Signal and Noise divides a range
    of means by checkpoint-to-checkpoint noise instead: not the same number.)"""
    cells = target.groupby(["eval", "train"])["ce"]
    noise = cells.var(ddof=1).groupby("eval").mean()
    seeds = cells.count().groupby("eval").mean()
    spread = cells.mean().groupby("eval").var(ddof=1) - noise / seeds
    return np.sqrt(spread.clip(lower=0)) / np.sqrt(noise)


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
    """Per benchmark (and pooled), each predictor's decision accuracy against the target's loss
    on the other seeds (`predictor_points`) and its cost as a share of the target's; the
    ceiling, the noise-free bound and the target's signal-to-noise ratio beside them.

    `target`: the experiment's losses per (train, eval, seed); `predictors`: name -> (kind,
    scores per (train, eval, seed), higher picks the train set: an alignment, or a proxy's
    `proxy_score`); `costs`: name -> wall_s, cpu_s, flops (the target's under `TARGET`).
    The ceiling is the target itself scored the same way: another seed's ranking, what one
    more target run agrees to. The cost share is of CPU seconds: wall time grows with whatever
    else the machine runs.
    """
    scored = {
        name: (kind, predictor_points(score, target, units), dict(costs[name]))
        for name, (kind, score) in predictors.items()
    }
    one_seed = target["seed"].nunique() < 2  # no other seed: no ceiling
    scored[CEILING] = (CEILING, predictor_points(proxy_score(target), target, units), costs[TARGET])
    rows = []
    for benchmark in [*dict.fromkeys(target["eval"]), POOLED]:
        for name, (kind, points, cost) in scored.items():
            rows.append({"eval": benchmark, "predictor": name, "kind": kind})
            found = accuracy(points, benchmark)
            if name == CEILING and one_seed:
                found = dict.fromkeys(ACCURACY, np.nan)
            rows[-1] |= found | cost
        bound = noise_free(rows[-1]) | {"predictor": NOISE_FREE, "wall_s": np.nan, "cpu_s": np.nan}
        rows.append(bound | {"flops": np.nan})
    table = pd.DataFrame(rows)
    table["cost_share"] = table["cpu_s"] / costs[TARGET]["cpu_s"]
    table["flops_share"] = table["flops"] / costs[TARGET]["flops"]
    table["snr"] = table["eval"].map(signal_to_noise(target))
    return table.reindex(columns=COLUMNS).reset_index(drop=True)


def frontier_markdown(table: pd.DataFrame, experiment: str) -> str:
    """The table, a sentence per benchmark: the best alignment metric and the best proxy (the
    best of several, picked after the fact, so a little optimistic), each with its decision
    accuracy and cost share; the ceiling and the noise-free bound."""
    lines = [
        f"# Which predictor picks the better train set? ({experiment})",
        "",
        "Decision accuracy: over every pair of train sets on a benchmark, the share where the "
        "predictor (each seed's) ranks them as the target model's loss on its other seeds does "
        "(ties 1/2; 0.5 is chance), with its 95% interval. Cost: the predictor's jobs' CPU "
        "seconds as a share of training and evaluating the target on every train set. "
        "Ceiling: the target's own run scored the same way (one more target seed); noise_free: "
        "the most a predictor without the target's seed noise could reach. SNR: spread of the "
        'train sets\' true losses over the seed-to-seed SD. "Best" is the best of several '
        "predictors, picked after the fact.",
        "",
    ]
    for benchmark, group in table.groupby("eval", sort=False):
        pieces = []
        for kind in ("alignment", "proxy"):
            rows = group[group["kind"] == kind].dropna(subset=["decision_accuracy"])
            if len(rows):
                best = rows.loc[rows["decision_accuracy"].idxmax()]
                pieces.append(
                    f"best {kind} (of {len(rows)}) {best['predictor']} "
                    f"{best['decision_accuracy']:.2f} "
                    f"({best['decision_ci_low']:.2f}-{best['decision_ci_high']:.2f}) at "
                    f"{best['cost_share']:.1%} of the target's cost"
                )
        bounds = group.set_index("predictor")["decision_accuracy"]
        if pd.notna(bounds.get(CEILING)):
            pieces.append(f"ceiling {bounds[CEILING]:.2f}, noise-free {bounds[NOISE_FREE]:.2f}")
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
    from matplotlib.ticker import LogLocator, NullFormatter, PercentFormatter

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
        ceiling = group.set_index("predictor").loc[CEILING]
        if pd.notna(ceiling["decision_accuracy"]):
            axes.axhspan(
                ceiling["decision_ci_low"],
                ceiling["decision_ci_high"],
                alpha=0.12,
                label="ceiling's 95% interval",
            )
            axes.axhline(ceiling["decision_accuracy"], linestyle="--", linewidth=1, label=CEILING)
            bound = group.set_index("predictor").loc[NOISE_FREE, "decision_accuracy"]
            axes.axhline(bound, color="black", linestyle="-.", linewidth=0.8, label="noise-free")
        axes.axhline(0.5, color="grey", linestyle=":", linewidth=1, label="chance")
        labelled = set()
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
                label=None if row["kind"] in labelled else f"{row['kind']} (95% interval)",
            )
            labelled.add(row["kind"])
            axes.annotate(
                row["predictor"],
                (row["cost_share"], row["decision_accuracy"]),
                fontsize=7,
                xytext=(4, 3),
                textcoords="offset points",
            )
        axes.set_xscale("log")
        axes.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        axes.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
        axes.xaxis.set_minor_formatter(NullFormatter())
        axes.set_title(benchmark)
        axes.set_xlabel("cost: CPU time, % of the target's")
    panels[0][0].set_ylabel("decision accuracy")
    figure.legend(*panels[0][0].get_legend_handles_labels(), loc="lower center", ncol=6, fontsize=8)
    save_figure(plt, figure, paths, rect=(0, 0.08, 1, 1))
