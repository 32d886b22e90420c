"""Rule selection_table: per strategy, benchmark loss over seeds against random, the choice's
alignment with the benchmark under every metric, its make-up and cost; table and figure."""

import pandas as pd

from dataalign.io import read_json, read_parquet, write_table
from dataalign.jobs import job_logging
from dataalign.select.plots import plot_selection
from dataalign.select.summary import chosen_rows, selection_costs, selection_table

with job_logging(snakemake.log[0]):
    inputs, params = snakemake.input, snakemake.params

    def reports(paths):
        return pd.DataFrame([read_json(path) for path in paths])

    choices = reports(inputs.choices)
    choices["rows"] = [chosen_rows(read_parquet(p, ["dataset", "row"])) for p in inputs.subsets]
    alignments = [read_parquet(path) for path in inputs.alignments]
    table = selection_table(
        pd.concat([read_parquet(path) for path in inputs.evaluations], ignore_index=True),
        pd.concat(alignments, ignore_index=True)
        if alignments
        else pd.DataFrame(columns=["train", "eval", "seed", "metric", "alignment"]),
        choices,
        selection_costs(reports(inputs.scores), reports(inputs.scans)),
        params.table["strategies"],
    )
    outputs = snakemake.output
    write_table(table, outputs.csv, outputs.markdown, outputs.latex, outputs.parquet)
    plot_selection(table, params.table["target"], [outputs.png, outputs.pdf])
