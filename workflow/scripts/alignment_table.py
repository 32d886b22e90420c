"""Rule alignment_table: an experiment's train x eval alignments as CSV (long) and Markdown."""

from dataalign.align.tables import alignment_table
from dataalign.io import atomic_path, read_parquet
from dataalign.jobs import job_logging

with job_logging(snakemake.log[0]):
    long, markdown = alignment_table([read_parquet(path) for path in snakemake.input])
    with atomic_path(snakemake.output.csv) as tmp:
        long.to_csv(tmp, index=False)
    with atomic_path(snakemake.output.markdown) as tmp:
        tmp.write_text(markdown)
