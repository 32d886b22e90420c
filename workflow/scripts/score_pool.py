"""Rule score_pool: every example of a pool shard scored under one strategy; timed, with the
job's peak memory."""

import json

import pandas as pd

from dataalign.io import read_parquet, write_parquet, write_text
from dataalign.jobs import PANEL_INPUTS, ROWS_INPUTS, job_logging, prefixed
from dataalign.select.steps import score_shard

with job_logging(snakemake.log[0]):
    inputs = snakemake.input
    scores, report = score_shard(
        snakemake.params.selection,
        read_parquet(inputs.index),
        prefixed(inputs, ROWS_INPUTS),
        [read_parquet(path)["statistic"].to_numpy() for path in inputs.get("statistics", [])],
        inputs.get("features"),
        prefixed(inputs, PANEL_INPUTS),
    )
    write_parquet(pd.DataFrame({"score": scores}), snakemake.output.scores)
    report = {"strategy": snakemake.wildcards.strategy, **report}
    write_text(json.dumps(report, indent=2), snakemake.output.report)
