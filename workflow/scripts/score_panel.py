"""Rule score_panel: one panel member's summed answer log-likelihood on one dataset, per example."""

import torch

from dataalign.io import read_parquet, write_parquet
from dataalign.jobs import job_logging
from dataalign.models import load_model_and_tokenizer
from dataalign.panel import PromptFormat, answer_loglik, build_prompts

with job_logging(snakemake.log[0]):
    torch.set_num_threads(snakemake.threads)
    params, wildcards = snakemake.params.scoring, snakemake.wildcards
    rows = read_parquet(snakemake.input.rows)
    prompt = PromptFormat(**params["prompt"])
    prompts = build_prompts(rows, prompt, params["examples"], params["seed"], wildcards.ds)
    model, tokenizer = load_model_and_tokenizer(params["model"], params["tokenizer"])
    scores = answer_loglik(
        model, tokenizer, prompts["context"], prompts["continuation"], params["batch_size"]
    )
    scores.insert(0, "model", wildcards.model)
    scores.insert(1, "dataset", wildcards.ds)
    scores.insert(2, "row", prompts["row"])
    scores["answer"] = prompts["continuation"]
    write_parquet(scores, snakemake.output.scores)
