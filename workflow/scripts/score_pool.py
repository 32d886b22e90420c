"""Rule score_pool: every pool example's score under one strategy, with its token count and
whether it is held out (a target or benchmark example); timed, with the job's peak memory."""

import json

from dataalign.data.subsets import Part
from dataalign.io import write_parquet, write_text
from dataalign.jobs import job_logging, measured
from dataalign.models import ModelSpec, load_tokenizer
from dataalign.select import Pool, held_out_keys, read_texts, scan_pool, score_pool
from dataalign.select.strategies import strategy

with job_logging(snakemake.log[0]):
    params = snakemake.params.selection

    def parts(specs):
        return [Part(name, snakemake.input[f"rows_{name}"], **spec) for name, spec in specs.items()]

    ((target_name, target_parts),) = params["target"].items()
    target = read_texts(parts(target_parts))
    benchmarks = {name: read_texts(parts(specs)) for name, specs in params["benchmarks"].items()}
    settings = dict(params["settings"])
    if strategy(params["method"]).panel:  # the members' scores of the pool, from their jobs
        settings["scores"] = {
            model: snakemake.input[f"panel_{model}"] for model in settings["models"]
        }
    pool = Pool(tuple(parts(params["pool"])))
    tokenizer = load_tokenizer(ModelSpec.from_config(**params["tokenizer"]))
    with measured() as usage:
        index = scan_pool(pool, tokenizer, held_out_keys(target_name, target, benchmarks))
        index["score"] = score_pool(params["method"], pool, index, target, settings)
    write_parquet(index, snakemake.output.scores)
    report = {
        "strategy": snakemake.wildcards.strategy,
        "method": params["method"],
        "pool_examples": len(index),
        "pool_tokens": int(index["n_tokens"].sum()),
        "excluded": int(index["excluded"].sum()),
        "target_examples": len(target),
        **usage,
    }
    write_text(json.dumps(report, indent=2), snakemake.output.report)
