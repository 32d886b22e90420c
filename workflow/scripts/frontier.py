"""Rule frontier: every predictor of the better train set (each alignment metric, each proxy)
scored against the experiment's models, on one cost axis (table and figure)."""

import numpy as np
import pandas as pd

from dataalign.analysis.frontier import (
    TARGET,
    frontier_markdown,
    frontier_table,
    measured_cost,
    plot_frontier,
    proxy_score,
    seed_losses,
    training_flops,
)
from dataalign.io import read_parquet, write_text
from dataalign.jobs import job_logging
from dataalign.models import saved_parameters


def losses(name: str) -> pd.DataFrame:
    return seed_losses(pd.concat([read_parquet(p) for p in snakemake.input[f"scores_{name}"]]))


def trained_cost(name: str) -> dict[str, float]:
    steps = [
        read_parquet(p, columns=["step"])["step"].max() for p in snakemake.input[f"logs_{name}"]
    ]
    parameters = [saved_parameters(p) for p in snakemake.input[f"weights_{name}"]]
    flops = training_flops(parameters, steps, params["tokens_per_step"][name])
    return measured_cost(snakemake.input[f"records_{name}"]) | {"flops": flops}


with job_logging(snakemake.log[0]):
    params = snakemake.params.frontier  # plan.params.FrontierParams
    predictors = {p: ("proxy", proxy_score(losses(p))) for p in params["proxies"]}
    predictors |= {
        m: ("alignment", read_parquet(snakemake.input[f"scores_{m}"][0])) for m in params["metrics"]
    }
    costs = {name: trained_cost(name) for name in [TARGET, *params["proxies"]]}
    for metric in params["metrics"]:  # CPU time only where a metric gives no FLOPs estimate
        flops = params["metric_flops"][metric]
        costs[metric] = measured_cost(snakemake.input[f"records_{metric}"])
        costs[metric]["flops"] = np.nan if flops is None else flops
    table = frontier_table(losses(TARGET), predictors, costs, params["units"])
    write_text(table.to_csv(index=False), snakemake.output.csv)
    write_text(frontier_markdown(table, snakemake.wildcards.exp), snakemake.output.markdown)
    plot_frontier(table, [snakemake.output.png, snakemake.output.pdf])
