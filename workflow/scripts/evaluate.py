"""Rule evaluate: perplexity of each seed's trained model (or the base model) on one benchmark."""

from pathlib import Path

import pandas as pd
import torch

from dataalign.evaluate import perplexity
from dataalign.io import read_parquet, write_parquet
from dataalign.jobs import job_logging
from dataalign.models import load_model_and_tokenizer

with job_logging(snakemake.log[0]):
    torch.set_num_threads(snakemake.threads)
    texts = read_parquet(snakemake.input.subset)["text"].tolist()
    params, wildcards = snakemake.params.evaluation, snakemake.wildcards
    if "base" in params:
        models = {0: (params["base"]["model"], params["base"]["tokenizer"])}
    else:
        models = {}
        for key, weights in snakemake.input.items():
            if key.startswith("model_"):
                seed = int(key.removeprefix("model_"))
                folder = {
                    "name": f"{wildcards.train}-{seed}",
                    "entry": {"path": str(Path(weights).parent)},
                }
                models[seed] = (folder, folder)  # a trained model folder holds its tokenizer
    rows = []
    for seed, (model_spec, tokenizer_spec) in models.items():
        model, tokenizer = load_model_and_tokenizer(model_spec, tokenizer_spec)
        scores = perplexity(model, tokenizer, texts, **params["options"])
        rows.append({"train": wildcards.train, "eval": wildcards.eval, "seed": seed, **scores})
    write_parquet(pd.DataFrame(rows), snakemake.output.scores)
