"""Rule unigram_baseline: each trained model's benchmark CE beside a unigram model of its train
tokens, so a reader sees whether the target learned more than token frequencies."""

import pandas as pd

from dataalign.analysis.baselines import unigram_markdown, unigram_table
from dataalign.data.subsets import subset_tokens
from dataalign.io import read_parquet, write_text
from dataalign.jobs import job_logging
from dataalign.models import ModelSpec, load_tokenizer

with job_logging(snakemake.log[0]):
    params = snakemake.params.unigram  # plan.params.UnigramParams
    inputs = snakemake.input
    train = {
        (name, seed): subset_tokens(tokens, subset)
        for (name, seed), tokens, subset in zip(
            params["train"], inputs.train_tokens, inputs.train_subsets, strict=True
        )
    }
    benchmarks = {
        name: subset_tokens(tokens, subset)
        for name, tokens, subset in zip(
            params["eval"], inputs.eval_tokens, inputs.eval_subsets, strict=True
        )
    }
    tokenizer = load_tokenizer(ModelSpec.from_config(**params["tokenizer"]))
    model = pd.concat([read_parquet(p) for p in inputs.scores], ignore_index=True)
    table = unigram_table(train, benchmarks, model, len(tokenizer), tokenizer.eos_token_id)
    write_text(table.to_csv(index=False), snakemake.output.csv)
    write_text(unigram_markdown(table, snakemake.wildcards.exp), snakemake.output.markdown)
