"""Rule alignment_table: an experiment's train x eval alignments as CSV (long) and Markdown."""

from dataalign.analysis.alignments import alignment_table
from dataalign.io import read_parquet, write_text
from dataalign.jobs import job_logging

with job_logging(snakemake.log[0]):
    long, markdown = alignment_table([read_parquet(path) for path in snakemake.input])
    write_text(long.to_csv(index=False), snakemake.output.csv)
    write_text(markdown, snakemake.output.markdown)
