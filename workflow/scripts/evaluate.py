"""Rule evaluate: cross-entropy and perplexity of one model (trained or base) on one benchmark."""

import pandas as pd
import torch

from dataalign.io import read_parquet, write_parquet
from dataalign.jobs import job_logging
from dataalign.models import compute_dtype, load_model_and_tokenizer
from dataalign.train.evaluate import perplexity

with job_logging(snakemake.log[0]):
    torch.set_num_threads(snakemake.threads)
    params = snakemake.params.evaluation
    options = dict(params["options"])
    dtype = compute_dtype(options.pop("precision"))  # inference only: bf16 weights are fine
    model, tokenizer = load_model_and_tokenizer(params["model"], params["tokenizer"], dtype=dtype)
    texts = read_parquet(snakemake.input.subset)["text"].tolist()
    scores = perplexity(model, tokenizer, texts, **options)
    write_parquet(pd.DataFrame([{**params["labels"], **scores}]), snakemake.output.scores)
