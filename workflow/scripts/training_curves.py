"""Rule training_curves: every model of an experiment, loss / learning rate / grad norm by step."""

import pandas as pd

from dataalign.analysis.plots import plot_training_curves
from dataalign.io import read_parquet
from dataalign.jobs import job_logging

with job_logging(snakemake.log[0]):
    history = pd.concat(
        [
            read_parquet(path).assign(**labels)
            for labels, path in zip(snakemake.params.runs, snakemake.input, strict=True)
        ],
        ignore_index=True,
    )
    plot_training_curves(history, [snakemake.output.png, snakemake.output.pdf])
