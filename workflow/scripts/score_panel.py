"""Rule score_panel: one panel member's summed answer log-likelihood, per example, on every
dataset its panels ask for; the model is loaded once."""

import pandas as pd
import torch

from dataalign.io import read_parquet, write_parquet
from dataalign.jobs import job_logging
from dataalign.models import compute_dtype, load_model_and_tokenizer
from dataalign.panel.scoring import PromptFormat, answer_loglik, build_prompts

with job_logging(snakemake.log[0]):
    torch.set_num_threads(snakemake.threads)
    params, model_name = snakemake.params.scoring, snakemake.wildcards.model
    model, tokenizer = load_model_and_tokenizer(
        params["model"], params["tokenizer"], dtype=compute_dtype(params["precision"])
    )
    frames = []
    for request in params["requests"]:
        dataset = request["dataset"]
        rows = read_parquet(snakemake.input[f"rows_{dataset}"])
        prompt = PromptFormat(**request["prompt"])
        prompts = build_prompts(rows, prompt, request["examples"], request["seed"], dataset)
        scores = answer_loglik(
            model, tokenizer, prompts["context"], prompts["continuation"], params["batch_size"]
        )
        scores.insert(0, "model", model_name)
        scores.insert(1, "dataset", dataset)
        scores.insert(2, "request", request["request"])
        scores.insert(3, "row", prompts["row"])
        scores["answer"] = prompts["continuation"]
        frames.append(scores)
    write_parquet(pd.concat(frames, ignore_index=True), snakemake.output.scores)
