"""Rule align: one train x eval alignment coefficient per train seed, from cached embeddings."""

import pandas as pd

from dataalign.align.metrics import align_embeddings
from dataalign.io import read_parquet, write_parquet
from dataalign.jobs import job_logging

with job_logging(snakemake.log[0]):
    metric, evaluation = snakemake.wildcards.metric, read_parquet(snakemake.input.eval)
    rows = []
    for key, path in snakemake.input.items():
        if key.startswith("train_"):
            result = align_embeddings(
                metric, read_parquet(path), evaluation, snakemake.params.settings, snakemake.threads
            )
            seed = int(key.removeprefix("train_"))
            rows.append(
                {
                    "train": snakemake.wildcards.train,
                    "eval": snakemake.wildcards.eval,
                    "seed": seed,
                    "metric": metric,
                    **result.as_row(),
                }
            )
    write_parquet(pd.DataFrame(rows), snakemake.output.alignment)
