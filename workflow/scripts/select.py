"""Rule select: one seed's choice from a strategy's scores of every pool shard, written as an
ordinary subset, with a report of its size, its make-up by pool dataset and its cost."""

import json

from dataalign.io import write_text
from dataalign.jobs import ROWS_INPUTS, job_logging, prefixed
from dataalign.plan.records import budget_tokens
from dataalign.select.steps import ShardFiles, choose_subset

with job_logging(snakemake.log[0]):
    inputs, wildcards, output = snakemake.input, snakemake.wildcards, snakemake.output
    report = choose_subset(
        snakemake.params.choice,
        ShardFiles(list(inputs.index), list(inputs.scores)),
        prefixed(inputs, ROWS_INPUTS),
        budget_tokens(wildcards.budget),  # None: a whole-pool choice has no budget
        int(wildcards.seed),
        output.subset,
        output.tokens,
    )
    report = {"strategy": wildcards.strategy, **report}
    write_text(json.dumps(report, indent=2), output.report)
