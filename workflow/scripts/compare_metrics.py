"""Rule compare_metrics: one figure with a panel per alignment metric (the paper's Fig. 4)."""

import pandas as pd

from dataalign.analysis import base_scores, headline_row
from dataalign.io import read_parquet
from dataalign.jobs import job_logging
from dataalign.plots import plot_metrics_side_by_side

with job_logging(snakemake.log[0]):
    metrics = snakemake.params.metrics
    points = {m: pd.read_csv(p) for m, p in zip(metrics, snakemake.input.points, strict=True)}
    tables = [pd.read_csv(p) for p in snakemake.input.tables]
    # too few points for a fit leave the table without r²; the panel then says so
    r2 = {m: headline_row(t).get("r2", float("nan")) for m, t in zip(metrics, tables, strict=True)}
    scores = pd.concat([read_parquet(p) for p in snakemake.input.evaluations], ignore_index=True)
    plot_metrics_side_by_side(
        points, r2, snakemake.params.target, base_scores(scores),
        [snakemake.output.png, snakemake.output.pdf],
    )  # fmt: skip
