"""Rule stage_costs: an experiment's jobs' benchmark records summed per stage, and the cost of
predicting by alignment against training."""

from dataalign.analysis.costs import costs_markdown, stage_costs
from dataalign.io import write_text
from dataalign.jobs import job_logging

with job_logging(snakemake.log[0]):
    files = {stage: [f] if isinstance(f, str) else list(f) for stage, f in snakemake.input.items()}
    costs = stage_costs(files)
    write_text(costs.to_csv(index=False), snakemake.output.csv)
    write_text(costs_markdown(costs, snakemake.wildcards.exp), snakemake.output.markdown)
