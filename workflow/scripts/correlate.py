"""Rule correlate: fit performance on alignment; write the table, the points and the figure."""

import pandas as pd

from dataalign.analysis.correlation import base_scores, correlation_table, headline_row, join_points
from dataalign.analysis.plots import plot_alignment_vs_performance
from dataalign.io import read_parquet, write_parquet, write_table, write_text
from dataalign.jobs import job_logging

with job_logging(snakemake.log[0]):
    analysis = snakemake.params.analysis
    alignments = pd.concat([read_parquet(p) for p in snakemake.input.alignments], ignore_index=True)
    scores = pd.concat([read_parquet(p) for p in snakemake.input.evaluations], ignore_index=True)
    points = join_points(alignments, scores, analysis["units"])
    table = correlation_table(
        points,
        analysis["target"],
        resamples=analysis["bootstrap"],
        permutations=analysis["permutations"],
        min_train_sets=analysis["min_train_sets"],
        seed=analysis["seed"],
    )
    outputs = snakemake.output
    write_table(table, outputs.csv, outputs.markdown, outputs.latex, outputs.parquet)
    write_text(points.to_csv(index=False), outputs.points)
    write_parquet(points, outputs.points_parquet)
    plot_alignment_vs_performance(
        points,
        analysis["target"],
        snakemake.wildcards.metric,
        headline_row(table),
        base_scores(scores),
        [outputs.png, outputs.pdf],
    )
