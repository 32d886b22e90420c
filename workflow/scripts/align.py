"""Rule align: one train x eval alignment coefficient per train seed, from cached embeddings."""

import pandas as pd

from dataalign.align.metrics import align_embeddings
from dataalign.io import read_parquet, write_parquet
from dataalign.jobs import TRAIN_INPUTS, job_logging, prefixed

with job_logging(snakemake.log[0]):
    metric, evaluation = snakemake.wildcards.metric, read_parquet(snakemake.input.eval)
    rows = []
    for seed, path in prefixed(snakemake.input, TRAIN_INPUTS).items():
        result = align_embeddings(
            metric, read_parquet(path), evaluation, snakemake.params.settings, snakemake.threads
        )
        rows.append(
            {
                "train": snakemake.wildcards.train,
                "eval": snakemake.wildcards.eval,
                "seed": int(seed),
                "metric": metric,
                **result.as_row(),
            }
        )
    write_parquet(pd.DataFrame(rows), snakemake.output.alignment)
