"""Rule correlate_panel: does the candidate rank the panel like the benchmarks do?"""

import pandas as pd

from dataalign.analysis import example_signals, panel_correlations
from dataalign.io import read_parquet, write_table, write_text
from dataalign.jobs import job_logging
from dataalign.panel import read_benchmark_scores, split_scores
from dataalign.plots import plot_panel

with job_logging(snakemake.log[0]):
    models, candidate = snakemake.params.models, snakemake.params.candidate
    scores = pd.concat([read_parquet(p) for p in snakemake.input.scores], ignore_index=True)
    scores = scores[scores["request"].isin(snakemake.params.requests)]  # this panel's rows
    csv = snakemake.input.benchmark_scores
    supplied = read_benchmark_scores(csv, models) if csv else None
    totals, benchmarks = split_scores(scores, candidate, supplied)
    table = panel_correlations(totals, benchmarks)
    outputs = snakemake.output
    write_table(table, outputs.csv, outputs.markdown, outputs.latex)
    summed = pd.concat([totals.reset_index().assign(benchmark=candidate), benchmarks])
    write_text(summed.to_csv(index=False), outputs.totals)
    examples = scores[scores["dataset"] == candidate]
    write_text(example_signals(examples, benchmarks).to_csv(index=False), outputs.examples)
    plot_panel(totals, benchmarks, table, candidate, [outputs.png, outputs.pdf])
