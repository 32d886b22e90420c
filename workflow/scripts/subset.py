"""Rule subset: a token-budget draw of one dataset (or mixture), counted with one tokenizer."""

from dataalign.io import read_parquet, write_parquet
from dataalign.jobs import job_logging
from dataalign.models import ModelSpec, load_tokenizer
from dataalign.subsets import Part, build_subset

with job_logging(snakemake.log[0]):
    parts = [
        Part(name, read_parquet(snakemake.input[name]), **spec)
        for name, spec in snakemake.params.parts.items()
    ]
    tokenizer = load_tokenizer(
        ModelSpec.from_config(snakemake.wildcards.tokenizer, snakemake.params.tokenizer)
    )
    budget = None if snakemake.wildcards.budget == "all" else int(snakemake.wildcards.budget)
    subset = build_subset(parts, tokenizer, budget, int(snakemake.wildcards.seed))
    write_parquet(subset, snakemake.output.subset)
