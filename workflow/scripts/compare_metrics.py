"""Rule compare_metrics: every metric's fits in one table, Holm-corrected, and one figure."""

import pandas as pd

from dataalign.analysis.correlation import adjust_across, base_scores, headline_row
from dataalign.analysis.plots import plot_metrics_side_by_side
from dataalign.io import read_parquet, write_table
from dataalign.jobs import job_logging

with job_logging(snakemake.log[0]):
    comparison = snakemake.params.comparison  # plan.params.ComparisonParams
    metrics = comparison["metrics"]
    # the Parquet copies of correlate's tables: a damaged one fails here with one line
    points = {m: read_parquet(p) for m, p in zip(metrics, snakemake.input.points, strict=True)}
    tables = {m: read_parquet(p) for m, p in zip(metrics, snakemake.input.tables, strict=True)}
    outputs = snakemake.output
    write_table(adjust_across(tables), outputs.csv, outputs.markdown, outputs.latex)
    scores = pd.concat([read_parquet(p) for p in snakemake.input.evaluations], ignore_index=True)
    plot_metrics_side_by_side(
        points,
        {m: headline_row(t) for m, t in tables.items()},
        comparison["target"],
        base_scores(scores),
        [outputs.png, outputs.pdf],
    )
