"""Rule embed: one subset's embedding under one metric, cached for every pair that needs it."""

import torch

from dataalign.align.metrics import embed_subset
from dataalign.io import ParquetColumn, write_parquet
from dataalign.jobs import job_logging

with job_logging(snakemake.log[0]):
    torch.set_num_threads(snakemake.threads)
    embedding = embed_subset(
        snakemake.wildcards.metric,
        ParquetColumn(snakemake.input.subset, "text"),
        snakemake.params.settings,
        snakemake.wildcards.ds,
    )
    write_parquet(embedding, snakemake.output.embedding)
