"""Rules finetune and pretrain: train one model on one subset, resuming from its checkpoints."""

from pathlib import Path

import torch

from dataalign.data.subsets import subset_tokens
from dataalign.io import write_parquet
from dataalign.jobs import job_logging
from dataalign.models import load_model_and_tokenizer
from dataalign.train.checkpoints import owned_checkpoints
from dataalign.train.trainer import TrainOptions, check_memory, train_causal_lm

with job_logging(snakemake.log[0]):
    torch.set_num_threads(snakemake.threads)
    params = snakemake.params.training
    options = TrainOptions(**params["options"])
    model, tokenizer = load_model_and_tokenizer(
        params["model"], params["tokenizer"], seed=options.seed
    )
    check_memory(model, options, snakemake.resources.get("mem_mb"), params["model"]["name"])
    history = train_causal_lm(
        model,
        tokenizer,
        subset_tokens(snakemake.input.tokens, snakemake.input.subset),
        options,
        Path(snakemake.output.weights).parent,
        owned_checkpoints(snakemake.params.checkpoints, snakemake.input.tokens),
        report_to=snakemake.params.report_to,
    )
    write_parquet(history, snakemake.output.log)
