"""Rule ranking: an experiment's candidates ranked by alignment, per metric and benchmark, with
which differences are beyond noise."""

import pandas as pd

from dataalign.analysis.alignments import rank_candidates, ranking_markdown
from dataalign.io import read_parquet, write_text
from dataalign.jobs import job_logging

with job_logging(snakemake.log[0]):
    long = pd.concat([read_parquet(path) for path in snakemake.input], ignore_index=True)
    ranking = rank_candidates(long)
    write_text(ranking.to_csv(index=False), snakemake.output.csv)
    write_text(ranking_markdown(ranking), snakemake.output.markdown)
