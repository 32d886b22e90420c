"""Rule download_dataset: one dataset's rows, from the Hub or a local file, as Parquet.

Written a batch of rows at a time, so a streamed corpus never has to fit in memory.
"""

from dataalign.data.sources import write_rows
from dataalign.jobs import job_logging

with job_logging(snakemake.log[0]):
    write_rows(snakemake.wildcards.ds, path=snakemake.output.rows, **snakemake.params.dataset)
