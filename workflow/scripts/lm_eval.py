"""Rule lm_eval: one panel member's lm-evaluation-harness results on the panel's tasks."""

import json

import torch

from dataalign.io import write_text
from dataalign.jobs import job_logging
from dataalign.models import compute_dtype, load_model_and_tokenizer
from dataalign.panel.harness import run_harness

with job_logging(snakemake.log[0]):
    torch.set_num_threads(snakemake.threads)
    run = snakemake.params.run
    model, tokenizer = load_model_and_tokenizer(
        run["model"], run["tokenizer"], dtype=compute_dtype(run["precision"])
    )
    results = run_harness(model, tokenizer, run["settings"])
    write_text(json.dumps(results, indent=1, default=float), snakemake.output.results)
