"""Rule scan_pool: every example of a pool shard with its token count and whether it is held out
(a target or benchmark example), for every strategy's scores and choices; timed."""

import json

from dataalign.io import write_parquet, write_text
from dataalign.jobs import ROWS_INPUTS, job_logging, prefixed
from dataalign.select.steps import scan_shard

with job_logging(snakemake.log[0]):
    index, report = scan_shard(snakemake.params.scan, prefixed(snakemake.input, ROWS_INPUTS))
    write_parquet(index, snakemake.output.index)
    write_text(json.dumps(report, indent=2), snakemake.output.report)
