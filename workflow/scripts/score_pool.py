"""Rule score_pool: every pool example's score under one strategy, with its token count and
whether it is held out (a target or benchmark example); timed, with the job's peak memory."""

import json

from dataalign.io import write_parquet, write_text
from dataalign.jobs import job_logging, prefixed
from dataalign.select.steps import score_strategy

with job_logging(snakemake.log[0]):
    index, report = score_strategy(
        snakemake.params.selection,
        prefixed(snakemake.input, "rows_"),
        prefixed(snakemake.input, "panel_"),
    )
    write_parquet(index, snakemake.output.scores)
    report = {"strategy": snakemake.wildcards.strategy, **report}
    write_text(json.dumps(report, indent=2), snakemake.output.report)
