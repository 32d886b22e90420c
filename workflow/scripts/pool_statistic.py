"""Rule pool_statistic: what a strategy's scoring needs of a pool shard over the whole pool
(DSIR's and n-gram's pool n-gram counts, a classifier's share of the pool sample), and what the
shard's scoring reuses; timed."""

import json

import pandas as pd

from dataalign.io import write_parquet, write_text
from dataalign.jobs import ROWS_INPUTS, job_logging, measured, prefixed
from dataalign.select.steps import shard_statistic

with job_logging(snakemake.log[0]):
    params = snakemake.params.selection
    with measured() as usage:
        statistic = shard_statistic(
            params, prefixed(snakemake.input, ROWS_INPUTS), snakemake.output.features
        )
    write_parquet(pd.DataFrame({"statistic": statistic}), snakemake.output.statistic)
    report = {"strategy": snakemake.wildcards.strategy, "shard": params["shard"], **usage}
    write_text(json.dumps(report, indent=2), snakemake.output.report)
