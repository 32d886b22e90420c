"""Rule subset: a token-budget draw of one dataset (or mixture), counted with one tokenizer."""

from dataalign.data.subsets import Part, write_subset
from dataalign.jobs import job_logging
from dataalign.models import ModelSpec, load_tokenizer
from dataalign.plan.records import budget_tokens

with job_logging(snakemake.log[0]):
    parts = [
        Part(name, snakemake.input[name], **spec) for name, spec in snakemake.params.parts.items()
    ]
    tokenizer = load_tokenizer(
        ModelSpec.from_config(snakemake.wildcards.tokenizer, snakemake.params.tokenizer)
    )
    budget = budget_tokens(snakemake.wildcards.budget)
    write_subset(
        parts,
        tokenizer,
        budget,
        int(snakemake.wildcards.seed),
        snakemake.output.subset,
        snakemake.output.tokens,
    )
