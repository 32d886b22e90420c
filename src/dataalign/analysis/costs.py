"""Where an experiment's time goes, and what predicting by alignment cost against training.

Every job writes Snakemake's benchmark record (wall seconds, CPU seconds, peak resident memory)
beside its log. An experiment's jobs are gathered by stage (`Plan.stage_benchmarks`): the
prediction is the alignment stages (embed every subset, combine the pairs); the answer it
predicts is the training stages (train every model, evaluate it). Jobs an experiment shares with
another (a download, an eval subset's embedding) are counted in each experiment that needs them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

PREDICTION = ("embed", "align")  # what alignment costs
TRAINING = ("train", "evaluate")  # what it spares: training and evaluating every train set


def read_benchmark(path: str) -> dict[str, float]:
    """One job's record: wall seconds, CPU seconds and peak RSS (MB); NaN where not measured."""
    record = pd.read_csv(path, sep="\t").iloc[0]
    values = pd.to_numeric(record[["s", "cpu_time", "max_rss"]], errors="coerce")
    return {"wall_s": values["s"], "cpu_s": values["cpu_time"], "peak_rss_mb": values["max_rss"]}


def stage_costs(files: Mapping[str, Sequence[str]]) -> pd.DataFrame:
    """Per stage: jobs, summed wall and CPU seconds, the largest peak RSS, the share of wall time.

    `files`: each stage's benchmark files, in the order the table lists the stages.
    """
    rows = []
    for stage, paths in files.items():
        records = pd.DataFrame(
            [read_benchmark(p) for p in paths], columns=["wall_s", "cpu_s", "peak_rss_mb"]
        )
        rows.append(
            {
                "stage": stage,
                "jobs": len(records),
                "wall_s": records["wall_s"].sum(),
                "cpu_s": records["cpu_s"].sum(),
                "peak_rss_mb": records["peak_rss_mb"].max(),
            }
        )
    table = pd.DataFrame(rows)
    table["share"] = table["wall_s"] / table["wall_s"].sum()
    return table


def prediction_cost(costs: pd.DataFrame) -> float:
    """Wall time of the alignment stages over that of the training stages (NaN if untrained)."""
    wall = costs.set_index("stage")["wall_s"]
    spared = wall.reindex(TRAINING).sum()
    return float(wall.reindex(PREDICTION).sum() / spared) if spared > 0 else float("nan")


def costs_markdown(costs: pd.DataFrame, experiment: str) -> str:
    """The table and a sentence a researcher can quote: alignment's cost against training's."""
    ratio = prediction_cost(costs)
    trained = int(costs.set_index("stage")["jobs"].reindex(["train"]).fillna(0).iloc[0])
    summary = (
        f"Alignment (embed + align) took {ratio:.1%} of the wall time of training and evaluating "
        f"the {trained} model(s) it ranks."
        if ratio == ratio
        else "Nothing was trained, so there is no training time to compare alignment with."
    )
    header = (
        f"Cost per stage of experiment {experiment}: the jobs' Snakemake benchmark records "
        "(wall and CPU seconds summed, the largest peak RSS). Jobs shared with other experiments "
        "are counted here too. " + summary + "\n\n"
    )
    return header + costs.to_markdown(index=False, floatfmt=".4g") + "\n"
