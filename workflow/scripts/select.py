"""Rule select: one seed's choice from a strategy's pool scores, written as an ordinary subset,
with a report of its size, its make-up by pool dataset and its cost."""

import json

from dataalign.data.subsets import Part, write_draws
from dataalign.io import read_parquet, write_text
from dataalign.jobs import job_logging, measured
from dataalign.models import ModelSpec, load_tokenizer
from dataalign.plan.records import content_digest
from dataalign.select import Pool, choose, chosen_draws, composition

with job_logging(snakemake.log[0]):
    params, wildcards = snakemake.params.choice, snakemake.wildcards
    pool = Pool(
        tuple(
            Part(name, snakemake.input[f"rows_{name}"], **spec)
            for name, spec in params["pool"].items()
        )
    )
    index = read_parquet(snakemake.input.scores)
    budget, seed = int(wildcards.budget), int(wildcards.seed)
    with measured() as usage:
        positions = choose(
            index, index["score"].to_numpy(), params["method"], budget, seed, params["temperature"]
        )
    tokenizer = load_tokenizer(ModelSpec.from_config(**params["tokenizer"]))
    write_draws(
        chosen_draws(pool, index, positions),
        tokenizer,
        snakemake.output.subset,
        snakemake.output.tokens,
    )
    report = {
        "strategy": wildcards.strategy,
        "seed": seed,
        "budget": budget,
        "examples": len(positions),
        "tokens": int(index["n_tokens"].to_numpy()[positions].sum()),
        "composition": composition(index, positions),
        "rows_digest": content_digest(positions.tolist()),
        **usage,
    }
    write_text(json.dumps(report, indent=2), snakemake.output.report)
