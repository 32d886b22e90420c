"""Fine-tune or pre-train a causal LM on one token-budget subset, resumably.

Both use the Hugging Face Trainer on packed blocks of text (examples joined by EOS). Checkpoints
live outside the job's declared outputs (Snakemake deletes those when a job fails), so a rerun
after a crash, a preemption or a time limit resumes from the last one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import shutil
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch.utils.data import Dataset

from dataalign.errors import DataAlignError

log = logging.getLogger(__name__)


class TrainingDiverged(DataAlignError):
    """The training loss became NaN or infinite."""


class TrainingInterrupted(DataAlignError):
    """A signal (time limit, preemption, requeue) stopped training after a checkpoint was saved."""


class NotEnoughMemory(DataAlignError):
    """The job's memory budget is below what training this model needs."""


PROCESS_OVERHEAD_MB = 500  # Python, torch and transformers before any tensor


def training_memory_mb(model, options: TrainOptions) -> int:
    """A lower-bound estimate of training memory: fp32 weights, grads and AdamW states, plus
    activations (about 34 values per token, hidden unit and layer) and the logits."""
    config = model.config
    params = sum(p.numel() for p in model.parameters())
    hidden = getattr(config, "n_embd", None) or getattr(config, "hidden_size", 0)
    layers = getattr(config, "n_layer", None) or getattr(config, "num_hidden_layers", 0)
    tokens = options.batch_size * clamp_seq_len(model, options.seq_len)
    activations = tokens * (34 * hidden * layers + 2 * config.vocab_size) * 4
    return PROCESS_OVERHEAD_MB + int((16 * params + activations) / 2**20)


def check_memory(model, options: TrainOptions, mem_mb: int | None) -> None:
    """Fail in seconds, not after an OOM kill, when the job asked for too little memory.

    On a cluster the retry then asks for more (profiles/slurm scales mem_mb with the attempt).
    """
    need = training_memory_mb(model, options)
    log.info("memory: the job has %s MB, training needs at least %d MB", mem_mb, need)
    if mem_mb is not None and mem_mb < need:
        raise NotEnoughMemory(
            f"training needs at least {need} MB but the job has mem_mb={mem_mb}. Fix: raise the "
            "rule's mem_mb (profiles/slurm scales it with each retry), or lower "
            "training.batch_size / training.seq_len."
        )


@dataclass(frozen=True)
class TrainOptions:
    """Hyper-parameters shared by every train set of an experiment (identical conditions)."""

    epochs: float = 5.0
    max_steps: int = -1
    lr: float = 5e-5
    schedule: str = "linear"
    warmup_ratio: float = 0.0
    weight_decay: float = 0.0
    batch_size: int = 4
    grad_accum: int = 1
    seq_len: int = 256
    max_grad_norm: float = 1.0
    save_steps: int = 50
    seed: int = 0


class PackedBlocks(Dataset):
    """Examples joined by EOS and cut into `seq_len`-token blocks; the last one is padded.

    Padding is masked out of the loss, so every token of the subset is trained on exactly once
    per epoch.
    """

    def __init__(self, texts: list[str], tokenizer, seq_len: int) -> None:
        ids: list[int] = []
        for encoded in tokenizer(texts, add_special_tokens=False, verbose=False)["input_ids"]:
            ids += [*encoded, tokenizer.eos_token_id]
        self.blocks = [ids[i : i + seq_len] for i in range(0, len(ids), seq_len)]
        self.seq_len, self.pad = seq_len, tokenizer.pad_token_id
        self.n_tokens = len(ids)

    def __len__(self) -> int:
        return len(self.blocks)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        block = self.blocks[index]
        padding = self.seq_len - len(block)
        ids = torch.tensor(block + [self.pad] * padding)
        mask = torch.tensor([1] * len(block) + [0] * padding)
        return {
            "input_ids": ids,
            "attention_mask": mask,
            "labels": ids.masked_fill(mask == 0, -100),
        }


def context_length(model) -> int | None:
    """The longest sequence the model's position embeddings allow (None if unbounded)."""
    config = model.config
    return getattr(config, "n_positions", None) or getattr(config, "max_position_embeddings", None)


def clamp_seq_len(model, seq_len: int) -> int:
    """A sequence length the model can take: longer requests are clamped with a warning."""
    limit = context_length(model)
    if limit is not None and seq_len > limit:
        log.warning(
            "seq_len %d exceeds the model's context of %d tokens; using %d", seq_len, limit, limit
        )
        return limit
    return seq_len


def checkpoint_key(params: dict[str, Any]) -> str:
    """A short stable hash of a job's params: its checkpoints' folder name."""
    return hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()[:16]


def train_causal_lm(
    model,
    tokenizer,
    texts: list[str],
    options: TrainOptions,
    output_dir: str | Path,
    checkpoint_dir: str | Path,
) -> pd.DataFrame:
    """Train `model` on `texts`, save it to `output_dir` (safetensors) and return the loss log.

    Resumes from the newest checkpoint in `checkpoint_dir`, which is removed after success.
    """
    from transformers import Trainer, TrainerCallback, TrainingArguments, default_data_collator
    from transformers.trainer_utils import get_last_checkpoint

    class StopOnSignal(TrainerCallback):
        """SIGTERM (requeue, preemption) or SIGUSR1 (time limit ahead): checkpoint, then stop."""

        received: int | None = None

        def on_step_end(self, args, state, control, **kwargs):
            if self.received is not None:
                control.should_save = control.should_training_stop = True

    class DivergenceGuard(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            loss = (logs or {}).get("loss")
            if loss is not None and not math.isfinite(float(loss)):
                raise TrainingDiverged(
                    f"training loss became {loss} at step {state.global_step}. Fix: lower the "
                    "learning rate (training.lr), check the data for empty or garbled text, or "
                    "use fp32."
                )

    seq_len = clamp_seq_len(model, options.seq_len)
    blocks = PackedBlocks(texts, tokenizer, seq_len)
    cuda = torch.cuda.is_available() and next(model.parameters()).is_cuda
    args = TrainingArguments(
        output_dir=str(checkpoint_dir),
        num_train_epochs=options.epochs,
        max_steps=options.max_steps,
        learning_rate=options.lr,
        lr_scheduler_type=options.schedule,
        warmup_steps=options.warmup_ratio,  # a float in [0, 1) is a fraction of all steps
        weight_decay=options.weight_decay,
        per_device_train_batch_size=options.batch_size,
        gradient_accumulation_steps=options.grad_accum,
        max_grad_norm=options.max_grad_norm,
        logging_steps=1,
        logging_nan_inf_filter=False,  # a NaN loss must reach DivergenceGuard, not be hidden
        save_strategy="steps",
        save_steps=options.save_steps,
        save_total_limit=2,
        seed=options.seed,
        data_seed=options.seed,
        bf16=cuda and torch.cuda.is_bf16_supported(),
        use_cpu=not cuda,
        report_to=[],
        dataloader_num_workers=0,
    )
    stopper = StopOnSignal()
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=blocks,
        data_collator=default_data_collator,
        callbacks=[DivergenceGuard(), stopper],
    )
    last = get_last_checkpoint(str(checkpoint_dir)) if Path(checkpoint_dir).is_dir() else None
    if last:
        log.info("resuming from checkpoint %s (step %s)", last, last.rsplit("-", 1)[-1])
    log.info("training on %d tokens in %d blocks of %d", blocks.n_tokens, len(blocks), seq_len)
    stop_signals = (signal.SIGTERM, signal.SIGUSR1)
    previous = {number: signal.getsignal(number) for number in stop_signals}
    for number in stop_signals:
        signal.signal(number, lambda received, frame: setattr(stopper, "received", received))
    try:
        trainer.train(resume_from_checkpoint=last)
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
    if stopper.received is not None:
        raise TrainingInterrupted(
            f"stopped by {signal.Signals(stopper.received).name} at step "
            f"{trainer.state.global_step}; checkpoint saved in {checkpoint_dir}. A rerun (or the "
            "requeued job) resumes from it."
        )
    model.save_pretrained(output_dir, safe_serialization=True)
    tokenizer.save_pretrained(output_dir)
    history = pd.DataFrame([row for row in trainer.state.log_history if "loss" in row])
    shutil.rmtree(checkpoint_dir, ignore_errors=True)
    return history[["step", "epoch", "loss", "learning_rate", "grad_norm"]].astype(float)
