"""A training job's checkpoints: which one a rerun resumes from, and what a failed save leaves.

Checkpoints live outside the job's declared outputs (Snakemake deletes those when a job fails),
so a rerun after a crash, a preemption or a time limit resumes from the last one. A checkpoint
counts only once it is complete on disk: its marker (`COMPLETE`, written after the Trainer has
saved all of it) records each file's size and SHA-256. One cut short by a kill or a full disk
has no marker and is removed; one whose files changed since (a truncated or corrupted weights
or optimiser file) is removed with a warning, and the run resumes from the one before, or
starts over. Only the checkpoint about to be resumed is hashed.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from transformers import TrainerCallback
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from dataalign.io import COMPLETE, damage, disk_full, file_digest, mark_complete

log = logging.getLogger(__name__)


def owned_checkpoints(run_dir: str | Path, tokens_path: str | Path) -> Path:
    """The checkpoint folder of one training job for the subset as it is now.

    `run_dir` belongs to one job; inside it, checkpoints are keyed by the subset's content, so a
    subset rewritten with other rows never resumes a stale run (stale folders are removed).
    """
    run_dir = Path(run_dir)
    current = run_dir / file_digest(tokens_path, 12)
    if run_dir.is_dir():
        for stale in run_dir.iterdir():
            if stale != current:
                log.info("removing checkpoints of an earlier version of the subset: %s", stale)
                shutil.rmtree(stale, ignore_errors=True)
    return current


class MarkComplete(TrainerCallback):
    """Mark each checkpoint once the Trainer has written all of it (weights, optimiser, state),
    recording its files' sizes and digests."""

    def on_save(self, args, state, control, **kwargs):
        folder = checkpoint_folder(args.output_dir, state.global_step)
        if folder.is_dir():
            mark_complete(folder)


def checkpoint_folder(checkpoint_dir: str | Path, step: int) -> Path:
    return Path(checkpoint_dir) / f"{PREFIX_CHECKPOINT_DIR}-{step}"


def step_of(folder: Path) -> int:
    return int(folder.name.rsplit("-", 1)[-1])


def checkpoints(checkpoint_dir: str | Path, complete: bool) -> list[Path]:
    """The checkpoints with (or without) a completion marker, oldest first."""
    folders = [
        folder
        for folder in Path(checkpoint_dir).glob(f"{PREFIX_CHECKPOINT_DIR}-*")
        if folder.name.rsplit("-", 1)[-1].isdigit() and (folder / COMPLETE).exists() == complete
    ]
    return sorted(folders, key=step_of)


def last_complete_checkpoint(checkpoint_dir: str | Path) -> str | None:
    """The newest checkpoint whose files are all as saved. Incomplete ones (a kill or a full disk
    during the save) are named in the log and removed; so are damaged ones, in one warning that
    says where the run resumes instead. Neither can be resumed nor block a resume."""
    for folder in checkpoints(checkpoint_dir, complete=False):
        log.warning("removing incomplete checkpoint %s (cut short while being saved)", folder)
        shutil.rmtree(folder, ignore_errors=True)
    complete, damaged = checkpoints(checkpoint_dir, complete=True), []
    while complete and (problem := damage(complete[-1])):
        folder = complete.pop()
        shutil.rmtree(folder, ignore_errors=True)
        damaged.append(f"{folder.name} ({problem})")
    if damaged:
        instead = f"resuming from {complete[-1].name}" if complete else "training starts over"
        log.warning("removed damaged %s; %s instead", "; ".join(damaged), instead)
    return str(complete[-1]) if complete else None


def rerun_resumes(checkpoint_dir: str | Path) -> str:
    """Where a rerun of the job would pick training up, in words."""
    complete = checkpoints(checkpoint_dir, complete=True)
    if not complete:
        return "the rerun starts training over (no checkpoint was saved yet)"
    return f"the rerun resumes from checkpoint {step_of(complete[-1])}"


def failed_save(checkpoint_dir: str | Path, step: int) -> Exception:
    """What running out of space while training becomes: the half-written checkpoint of `step`
    is removed, and the error is one line naming it (else the checkpoint folder), the space
    left and the checkpoint a rerun resumes from."""
    folder = checkpoint_folder(checkpoint_dir, step)
    if folder.is_dir() and not (folder / COMPLETE).exists():
        shutil.rmtree(folder, ignore_errors=True)
    else:
        folder = Path(checkpoint_dir)
    return disk_full(folder, rerun_resumes(checkpoint_dir))
