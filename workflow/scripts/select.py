"""Rule select: one seed's choice from a strategy's pool scores, written as an ordinary subset,
with a report of its size, its make-up by pool dataset and its cost."""

import json

from dataalign.io import read_parquet, write_text
from dataalign.jobs import job_logging, prefixed
from dataalign.select.steps import choose_subset

with job_logging(snakemake.log[0]):
    wildcards, output = snakemake.wildcards, snakemake.output
    report = choose_subset(
        snakemake.params.choice,
        read_parquet(snakemake.input.scores),
        prefixed(snakemake.input, "rows_"),
        int(wildcards.budget),
        int(wildcards.seed),
        output.subset,
        output.tokens,
    )
    report = {"strategy": wildcards.strategy, **report}
    write_text(json.dumps(report, indent=2), output.report)
