"""Rule correlate_panel: does the candidate rank the panel like the benchmarks do, and beyond
general quality (the controls)?"""

import pandas as pd

from dataalign.data.sources import corrupted_rows
from dataalign.io import read_parquet, write_table, write_text
from dataalign.jobs import job_logging
from dataalign.panel.plots import plot_panel
from dataalign.panel.stats import flag_counts
from dataalign.panel.steps import panel_tables

with job_logging(snakemake.log[0]) as log:
    panel, inputs, outputs = snakemake.params.panel, snakemake.input, snakemake.output
    scores = pd.concat([read_parquet(p) for p in inputs.scores], ignore_index=True)
    planted = (
        corrupted_rows(read_parquet(inputs.candidate), panel["corrupted"])
        if panel["corrupted"]
        else None
    )
    summary, table, signals, support = panel_tables(
        panel, scores, inputs.harness, inputs.benchmark_scores or None, planted
    )
    if planted is not None:
        flags = pd.concat([signals, support.assign(benchmark="question support")])
        log.info("flagged candidate answers per signal:\n%s", flag_counts(flags))
    write_text(summary.to_csv(index=False), outputs.totals)
    write_table(table, outputs.csv, outputs.markdown, outputs.latex)
    write_text(signals.to_csv(index=False), outputs.examples)
    write_text(support.to_csv(index=False), outputs.support)
    plot_panel(summary, table, panel["candidate"], panel["fit"], [outputs.png, outputs.pdf])
