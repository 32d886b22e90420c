"""Rule score_panel: one panel member's summed answer log-likelihood, per example, on every
dataset its panels ask for; the model is loaded once."""

import torch

from dataalign.io import write_parquet
from dataalign.jobs import ROWS_INPUTS, job_logging, prefixed
from dataalign.panel.steps import score_member

with job_logging(snakemake.log[0]):
    torch.set_num_threads(snakemake.threads)
    rows = prefixed(snakemake.input, ROWS_INPUTS)
    scores = score_member(snakemake.params.scoring, snakemake.wildcards.model, rows)
    write_parquet(scores, snakemake.output.scores)
