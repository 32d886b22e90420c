"""Fine-tune or pre-train a causal LM on one token-budget subset, resumably.

Both use the Hugging Face Trainer on packed blocks of a subset's memory-mapped token ids
(examples joined by EOS; as in GPT-2 pre-training, a block may span documents and attention is
not reset at the EOS). The optimiser updates fp32 master weights; on CUDA the forward and backward
passes run under bf16 (or fp16 with loss scaling) autocast. A rerun resumes from the last
checkpoint whose files are as saved (`dataalign.train.checkpoints`); a full disk, during a
checkpoint or the final save, ends the job with one line and no half-written file.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import signal
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset
from transformers import Trainer, TrainerCallback, TrainingArguments, default_data_collator

from dataalign.errors import DataAlignError
from dataalign.io import mark_complete, out_of_space, saved_together, writing
from dataalign.models import check_device_memory, compute_dtype
from dataalign.schemas import defaults
from dataalign.train.checkpoints import (
    MarkComplete,
    failed_save,
    last_complete_checkpoint,
    rerun_resumes,
)

log = logging.getLogger(__name__)


class TrainingDiverged(DataAlignError):
    """The training loss became NaN or infinite."""


class TrainingInterrupted(DataAlignError):
    """A signal (time limit, preemption, requeue) stopped training after a checkpoint was saved."""


class NotEnoughMemory(DataAlignError):
    """The job's memory budget is below what training this model needs."""


PROCESS_OVERHEAD_MB = 500  # Python, torch and transformers before any tensor
BATCHES_IN_FLIGHT = 4  # loader prefetch: the only data a job holds (token ids are memory-mapped)


def training_memory_mb(model, options: TrainOptions) -> int:
    """A lower-bound estimate of training memory: fp32 weights, grads and AdamW states, plus
    activations (about 34 values per token, hidden unit and layer), the logits, and the batches
    in flight. The corpus itself is a memory-mapped file, paged in and out by the OS."""
    config = model.config
    params = sum(p.numel() for p in model.parameters())
    hidden = getattr(config, "n_embd", None) or getattr(config, "hidden_size", 0)
    layers = getattr(config, "n_layer", None) or getattr(config, "num_hidden_layers", 0)
    tokens = options.batch_size * clamp_seq_len(model, options.seq_len)
    activations = tokens * (34 * hidden * layers + 2 * config.vocab_size) * 4
    data = BATCHES_IN_FLIGHT * tokens * 3 * 8  # input ids, mask and labels as int64
    return PROCESS_OVERHEAD_MB + int((16 * params + activations + data) / 2**20)


def check_memory(model, options: TrainOptions, mem_mb: int | None, name: str = "model") -> None:
    """Fail in seconds, not after an OOM kill, when the job asked for too little memory.

    On CPU all of training lives in host memory; on a GPU the weights, optimiser states and
    activations live on the device (checked against its size) and the host holds the process,
    a copy of the weights while loading, and the batches in flight. On a cluster the retry then
    asks for more (profiles/slurm scales mem_mb with the attempt).
    """
    need = training_memory_mb(model, options)
    device = next(model.parameters()).device
    if device.type == "cuda":
        check_device_memory(name, need * 2**20, device)
        params = sum(p.numel() for p in model.parameters())
        need = PROCESS_OVERHEAD_MB + int(8 * params / 2**20)
    log.info(
        "memory: the job has %s MB, training needs at least %d MB (data memory-mapped)",
        mem_mb,
        need,
    )
    if mem_mb is not None and mem_mb < need:
        raise NotEnoughMemory(
            f"training needs at least {need} MB but the job has mem_mb={mem_mb}. Fix: raise the "
            "rule's mem_mb (profiles/slurm scales it with each retry), or lower "
            "training.batch_size / training.seq_len."
        )


TRAIN_DEFAULTS = defaults("training")


@dataclass(frozen=True)
class TrainOptions:
    """Hyper-parameters shared by every train set of an experiment (identical conditions);
    defaults: the config schema's. `seed` is the draw's; `precision` the config's."""

    epochs: float = TRAIN_DEFAULTS["epochs"]
    max_steps: int = TRAIN_DEFAULTS["max_steps"]
    lr: float = TRAIN_DEFAULTS["lr"]
    schedule: str = TRAIN_DEFAULTS["schedule"]
    warmup_ratio: float = TRAIN_DEFAULTS["warmup_ratio"]
    weight_decay: float = TRAIN_DEFAULTS["weight_decay"]
    batch_size: int = TRAIN_DEFAULTS["batch_size"]
    grad_accum: int = TRAIN_DEFAULTS["grad_accum"]
    seq_len: int = TRAIN_DEFAULTS["seq_len"]
    max_grad_norm: float = TRAIN_DEFAULTS["max_grad_norm"]
    save_steps: int = TRAIN_DEFAULTS["save_steps"]
    seed: int = 0
    precision: str = defaults()["precision"]
    stop_at: float = 1.0  # a checkpoint proxy's share of the steps: the same run, stopped early
    max_tokens: int = 0  # a budget proxy's tokens: a seeded sample of the subset's blocks (0: all)

    def total_steps(self, n_blocks: int) -> int:
        """Optimiser steps the run takes: `max_steps`, else every epoch's accumulated batches."""
        if self.max_steps > 0:
            return self.max_steps
        per_epoch = max(1, math.ceil(math.ceil(n_blocks / self.batch_size) / self.grad_accum))
        return math.ceil(self.epochs * per_epoch)

    def stop_step(self, n_blocks: int) -> int:
        """The step training stops at: `stop_at` of the run's steps (the schedule is the whole
        run's, so the weights are the whole run's at that step)."""
        return max(1, math.ceil(self.stop_at * self.total_steps(n_blocks)))

    def warmup_steps(self, n_blocks: int) -> int:
        """`warmup_ratio` as a step count, which every transformers version reads the same way."""
        return math.ceil(self.warmup_ratio * self.total_steps(n_blocks))


def tokenize_texts(texts: list[str], tokenizer) -> np.ndarray:
    """Token ids of `texts` with EOS after each, as a subset's .tokens.npy holds them."""
    ids: list[int] = []
    for encoded in tokenizer(texts, add_special_tokens=False, verbose=False)["input_ids"]:
        ids += [*encoded, tokenizer.eos_token_id]
    return np.asarray(ids, dtype=np.int64)


class PackedBlocks(Dataset):
    """Token ids (EOS-separated examples) cut into `seq_len`-token blocks; the last is padded.

    `tokens` is usually a memory-mapped array, so a block is read from disk when it is needed.
    Padding is masked out of the loss, so every token is trained on exactly once per epoch.
    """

    def __init__(
        self, tokens: np.ndarray, seq_len: int, pad_id: int, max_tokens: int = 0, seed: int = 0
    ) -> None:
        self.tokens, self.seq_len, self.pad = tokens, seq_len, pad_id
        self.blocks = np.arange(math.ceil(len(tokens) / seq_len))
        if 0 < max_tokens < len(tokens):  # a seeded sample of whole blocks, in file order
            keep = math.ceil(max_tokens / seq_len)
            chosen = np.random.default_rng(seed).permutation(len(self.blocks))[:keep]
            self.blocks = np.sort(chosen)
        ends = np.minimum((self.blocks + 1) * seq_len, len(tokens))
        self.n_tokens = int((ends - self.blocks * seq_len).sum())

    def __len__(self) -> int:
        return len(self.blocks)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        start = int(self.blocks[index]) * self.seq_len
        block = torch.from_numpy(np.asarray(self.tokens[start : start + self.seq_len], np.int64))
        padding = self.seq_len - len(block)
        ids = torch.cat([block, torch.full((padding,), self.pad, dtype=torch.int64)])
        mask = (torch.arange(self.seq_len) < len(block)).long()
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


def check_master_weights(model) -> None:
    """The optimiser must update fp32 weights: a small update to a bf16 weight rounds to nothing."""
    low = {str(p.dtype) for p in model.parameters() if p.requires_grad and p.dtype != torch.float32}
    if low:
        raise DataAlignError(
            f"the model to train holds {sorted(low)} weights; training needs fp32 master weights "
            "(precision only sets the autocast dtype). Fix: load it in fp32."
        )


class StopOnSignal(TrainerCallback):
    """SIGTERM (requeue, preemption) or SIGUSR1 (time limit ahead): checkpoint, then stop."""

    SIGNALS = (signal.SIGTERM, signal.SIGUSR1)

    def __init__(self) -> None:
        self.received: int | None = None

    def on_step_end(self, args, state, control, **kwargs):
        if self.received is not None:
            control.should_save = control.should_training_stop = True

    @contextmanager
    def listening(self) -> Iterator[None]:
        """Record a stop signal while training runs; restore the previous handlers after."""
        previous = {number: signal.getsignal(number) for number in self.SIGNALS}
        for number in self.SIGNALS:
            signal.signal(number, lambda received, frame: setattr(self, "received", received))
        try:
            yield
        finally:
            for number, handler in previous.items():
                signal.signal(number, handler)


class StopAtStep(TrainerCallback):
    """Stop after `step` optimiser steps, the learning-rate schedule left as planned."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step >= self.step:
            control.should_training_stop = True


class DivergenceGuard(TrainerCallback):
    """A non-finite loss ends the run with its step and the fix, instead of training on NaNs."""

    def on_log(self, args, state, control, logs=None, **kwargs):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            raise TrainingDiverged(
                f"training loss became {loss} at step {state.global_step}. Fix: lower the "
                "learning rate (training.lr), check the data for empty or garbled text, or "
                "use fp32."
            )


def training_arguments(
    options: TrainOptions,
    checkpoint_dir: str | Path,
    n_blocks: int,
    cuda: bool,
    autocast,
    report_to: Sequence[str] = (),
) -> TrainingArguments:
    """The Trainer's arguments: the options, a checkpoint every `save_steps`, the precision's
    autocast (fp16 with a loss scaler), data loading that pays on a GPU, and the integrations
    (`report_to`) the loss is also logged to."""
    return TrainingArguments(
        output_dir=str(checkpoint_dir),
        num_train_epochs=options.epochs,
        max_steps=options.max_steps,
        learning_rate=options.lr,
        lr_scheduler_type=options.schedule,
        warmup_steps=options.warmup_steps(n_blocks),
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
        bf16=autocast == torch.bfloat16,
        fp16=autocast == torch.float16,
        use_cpu=not cuda,
        report_to=list(report_to),
        dataloader_num_workers=2 if cuda else 0,  # workers and pinned memory only pay on a GPU
        dataloader_pin_memory=cuda,
    )


def train_causal_lm(
    model,
    tokenizer,
    tokens: np.ndarray,
    options: TrainOptions,
    output_dir: str | Path,
    checkpoint_dir: str | Path,
    report_to: Sequence[str] = (),
) -> pd.DataFrame:
    """Train `model` on packed `tokens`, save it to `output_dir` (safetensors, fp32) and return
    the loss log. Resumes from the newest complete checkpoint in `checkpoint_dir`, removed after
    success. `report_to`: Trainer integrations to log to as well (TensorBoard writes into
    `output_dir`/runs unless TENSORBOARD_LOGGING_DIR says otherwise).
    """
    seq_len = clamp_seq_len(model, options.seq_len)
    blocks = PackedBlocks(tokens, seq_len, tokenizer.pad_token_id, options.max_tokens, options.seed)
    check_master_weights(model)
    cuda = torch.cuda.is_available() and next(model.parameters()).is_cuda
    autocast = compute_dtype(options.precision, "cuda" if cuda else "cpu")
    if cuda:
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    stopper = StopOnSignal()
    if "tensorboard" in report_to:  # beside the model: the checkpoint folder is removed
        os.environ.setdefault("TENSORBOARD_LOGGING_DIR", str(Path(output_dir) / "runs"))
    trainer = Trainer(
        model=model,
        args=training_arguments(options, checkpoint_dir, len(blocks), cuda, autocast, report_to),
        train_dataset=blocks,
        data_collator=default_data_collator,
        callbacks=[DivergenceGuard(), stopper, MarkComplete()],
    )
    if options.stop_at < 1:
        trainer.add_callback(StopAtStep(options.stop_step(len(blocks))))
    last = last_complete_checkpoint(checkpoint_dir)
    if last:
        log.info("resuming from checkpoint %s (step %s)", last, last.rsplit("-", 1)[-1])
    log.info(
        "training on %d tokens in %d blocks of %d; fp32 master weights, %s compute",
        blocks.n_tokens,
        len(blocks),
        seq_len,
        str(autocast).removeprefix("torch."),
    )
    try:
        with stopper.listening():
            trainer.train(resume_from_checkpoint=last)
    except KeyboardInterrupt:  # Ctrl-C: the job's log line says where a rerun picks up
        step = trainer.state.global_step
        raise KeyboardInterrupt(f"at step {step}; {rerun_resumes(checkpoint_dir)}") from None
    except Exception as error:
        if not out_of_space(error):
            raise
        raise failed_save(checkpoint_dir, trainer.state.global_step) from None
    if stopper.received is not None:
        raise TrainingInterrupted(
            f"stopped by {signal.Signals(stopper.received).name} at step "
            f"{trainer.state.global_step}; checkpoint saved in {checkpoint_dir}. A rerun (or the "
            "requeued job) resumes from it."
        )
    with writing(output_dir, rerun_resumes(checkpoint_dir)), saved_together(output_dir) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        mark_complete(tmp)
    history = pd.DataFrame([row for row in trainer.state.log_history if "loss" in row])
    shutil.rmtree(checkpoint_dir, ignore_errors=True)
    return history[["step", "epoch", "loss", "learning_rate", "grad_norm"]].astype(float)
