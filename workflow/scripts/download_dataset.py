"""Rule download_dataset: one dataset's rows, from the Hub or a local file, as Parquet."""

from dataalign.io import write_parquet
from dataalign.jobs import job_logging
from dataalign.sources import load_rows

with job_logging(snakemake.log[0]):
    rows = load_rows(snakemake.wildcards.ds, **snakemake.params.dataset)
    write_parquet(rows, snakemake.output.rows)
