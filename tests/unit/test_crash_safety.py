"""Nothing a crash can corrupt: a damaged file in a complete checkpoint makes training fall back
(and end byte-identical), damaged trained weights and a full disk are one line each with the
fix, and Ctrl-C ends a job with one line instead of the Trainer's traceback."""

from __future__ import annotations

import errno
import itertools
import os
import random
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from helpers import WORDS, sentence

from dataalign.errors import DamagedFileError
from dataalign.io import COMPLETE, DiskFullError, write_parquet
from dataalign.models import load_model_and_tokenizer
from dataalign.train.trainer import (
    TrainingInterrupted,
    TrainOptions,
    tokenize_texts,
    train_causal_lm,
)

TEXTS = [sentence(random.Random(i), WORDS, 8, 20) for i in range(40)]
OPTIONS = TrainOptions(max_steps=12, lr=3e-3, batch_size=4, seq_len=32, save_steps=4)
WEIGHTS = "model.safetensors"


def tiny(folder: Path):
    entry = {"name": "tiny", "entry": {"path": str(folder)}}
    return load_model_and_tokenizer(entry, entry, device="cpu")


def train(model_dir: Path, output: Path, checkpoints: Path, hook=None):
    """Train the tiny model with OPTIONS; `hook(calls)` runs before each forward pass."""
    model, tokenizer = tiny(model_dir)
    if hook is not None:
        calls = itertools.count(1)
        model.register_forward_pre_hook(lambda module, args: hook(next(calls)))
    tokens = tokenize_texts(TEXTS, tokenizer)
    return train_causal_lm(model, tokenizer, tokens, OPTIONS, output, checkpoints)


@pytest.fixture(scope="module")
def runs(tiny_lm_dir, tmp_path_factory) -> Path:
    """An uninterrupted run (`straight/`) and a run stopped by a signal after step 10, which
    left complete checkpoints 8 and 10 (`stopped/`)."""
    root = tmp_path_factory.mktemp("runs")
    train(tiny_lm_dir, root / "straight", root / "unused")

    def stop_at_ten(calls: int) -> None:
        if calls == 10:
            os.kill(os.getpid(), signal.SIGUSR1)

    with pytest.raises(TrainingInterrupted):
        train(tiny_lm_dir, root / "unused", root / "stopped", stop_at_ten)
    assert sorted(p.name for p in (root / "stopped").iterdir()) == [
        "checkpoint-10",
        "checkpoint-8",
    ]
    return root


def cut(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def flip(path: Path) -> None:
    """Change bytes inside the data, keeping the size: only the digest can tell."""
    data = bytearray(path.read_bytes())
    data[-64:] = bytes(255 - b for b in data[-64:])
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    ("damaged", "harm", "then"),
    [
        (["checkpoint-10/model.safetensors"], cut, "resuming from checkpoint-8 instead"),
        (["checkpoint-10/optimizer.pt"], cut, "resuming from checkpoint-8 instead"),
        (["checkpoint-10/model.safetensors"], flip, "resuming from checkpoint-8 instead"),
        (
            ["checkpoint-10/optimizer.pt", "checkpoint-8/model.safetensors"],
            cut,
            "training starts over instead",
        ),
    ],
)
def test_a_damaged_file_in_a_complete_checkpoint_falls_back_and_ends_byte_identical(
    runs, tiny_lm_dir, tmp_path, caplog, damaged, harm, then
):
    checkpoints = tmp_path / "checkpoints"
    shutil.copytree(runs / "stopped", checkpoints)
    for name in damaged:
        harm(checkpoints / name)
    caplog.set_level("INFO", logger="dataalign")
    train(tiny_lm_dir, tmp_path / "out", checkpoints)
    warnings = [
        r.getMessage()
        for r in caplog.records
        if r.levelname == "WARNING" and r.name.startswith("dataalign")
    ]
    assert len(warnings) == 1 and warnings[0].startswith("removed damaged checkpoint-10 (")
    assert warnings[0].endswith(then) and all(name.split("/")[1] in warnings[0] for name in damaged)
    straight = (runs / "straight" / WEIGHTS).read_bytes()
    assert (tmp_path / "out" / WEIGHTS).read_bytes() == straight


@pytest.mark.parametrize("harm", [cut, flip])
def test_damaged_trained_weights_read_by_evaluation_are_one_line_with_the_fix(runs, tmp_path, harm):
    model = tmp_path / "model"
    shutil.copytree(runs / "straight", model)
    assert (model / COMPLETE).is_file()
    harm(model / WEIGHTS)
    with pytest.raises(DamagedFileError) as raised:
        tiny(model)
    message = str(raised.value)
    assert message.startswith(f"the model in {model} is damaged: {model / WEIGHTS} ")
    assert message.endswith(
        f"Fix: delete {model} and rerun; Snakemake retrains it (a model of "
        "your own: copy it there again)."
    )
    assert "\n" not in message


def test_cut_weights_without_a_record_are_one_line_too(tiny_lm_dir, tmp_path):
    """A model folder the pipeline did not write (no completion marker): the reader's error."""
    model = tmp_path / "model"
    shutil.copytree(tiny_lm_dir, model)
    cut(model / WEIGHTS)
    with pytest.raises(
        DamagedFileError,
        match=rf"the model in {model} is damaged: its weights "
        r"cannot be read \(Error while deserializing header",
    ):
        tiny(model)


def run_job(body: str, log: Path) -> subprocess.CompletedProcess:
    """Run `body` inside `job_logging`, as a pipeline script does; its console output returns."""
    code = f"from dataalign.jobs import job_logging\nwith job_logging({str(log)!r}):\n" + "".join(
        f"    {line}\n" for line in body.splitlines()
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)


def test_a_job_reading_damaged_weights_prints_one_line(runs, tmp_path):
    model = tmp_path / "model"
    shutil.copytree(runs / "straight", model)
    cut(model / WEIGHTS)
    entry = {"name": "m", "entry": {"path": str(model)}}
    result = run_job(
        "from dataalign.models import load_model_and_tokenizer\n"
        f"load_model_and_tokenizer({entry!r}, {entry!r}, device='cpu')",
        tmp_path / "job.log",
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert result.stderr.startswith(f"the model in {model} is damaged")


CTRL_C_JOB = """
from dataalign.models import load_model_and_tokenizer
from dataalign.train.trainer import TrainOptions, tokenize_texts, train_causal_lm
entry = {{"name": "tiny", "entry": {{"path": {model!r}}}}}
model, tokenizer = load_model_and_tokenizer(entry, entry, device="cpu")
calls = []
def ctrl_c(module, args):
    calls.append(1)
    if len(calls) == 6:
        raise KeyboardInterrupt
model.register_forward_pre_hook(ctrl_c)
tokens = tokenize_texts({texts!r}, tokenizer)
train_causal_lm(model, tokenizer, tokens, {options!r}, {output!r}, {checkpoints!r})
"""


def test_ctrl_c_during_training_prints_one_line(tiny_lm_dir, tmp_path):
    job = CTRL_C_JOB.format(
        model=str(tiny_lm_dir),
        texts=TEXTS,
        options=OPTIONS,
        output=str(tmp_path / "out"),
        checkpoints=str(tmp_path / "checkpoints"),
    )
    result = run_job(job.strip(), tmp_path / "job.log")
    assert result.stderr == "interrupted by Ctrl-C at step 5; the rerun resumes from checkpoint 4\n"
    assert result.returncode == 130


def test_a_full_disk_while_writing_a_table_is_one_line_and_leaves_nothing(tmp_path, monkeypatch):
    """ENOSPC simulated (the writer raises it); `small_disk` below uses a real full filesystem."""
    import pyarrow.parquet as pq

    def no_space(table, where, **options):
        Path(where).write_bytes(b"PAR1 half a table")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pq, "write_table", no_space)
    path = tmp_path / "scores.parquet"
    with pytest.raises(DiskFullError) as raised:
        write_parquet(pd.DataFrame({"x": [1.0]}), path)
    assert str(raised.value).startswith(f"the disk is full: writing {path} failed with ")
    assert str(raised.value).endswith("and rerun; the rerun writes it again.")
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def small_disk(tmp_path):
    """Mount a tmpfs of a given size (root only: skipped elsewhere); unmounted afterwards."""
    mounted = []

    def mount(size: str) -> Path:
        folder = tmp_path / f"disk{len(mounted)}"
        folder.mkdir()
        command = ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)]
        if shutil.which("mount") is None or subprocess.run(command, capture_output=True).returncode:
            pytest.skip("mounting a small tmpfs needs root")
        mounted.append(folder)
        return folder

    yield mount
    for folder in mounted:
        subprocess.run(["umount", str(folder)], check=True)


def test_a_full_disk_during_a_checkpoint_names_it_and_the_rerun_resumes(
    runs, tiny_lm_dir, small_disk, tmp_path
):
    """The disk fills after checkpoint 4: saving checkpoint 8 fails with one line, the half-written
    checkpoint is removed, and once there is room the rerun resumes from 4 and ends exact."""
    checkpoints = small_disk("2m") / "checkpoints"
    filler = checkpoints.parent / "filler"

    def fill_the_disk(calls: int) -> None:
        if calls == 6:
            filler.write_bytes(b"\0" * (shutil.disk_usage(filler.parent).free - 16_384))

    with pytest.raises(DiskFullError) as raised:
        train(tiny_lm_dir, tmp_path / "out", checkpoints, fill_the_disk)
    message = str(raised.value)
    assert message.startswith(f"the disk is full: writing {checkpoints / 'checkpoint-8'} failed")
    assert message.endswith("and rerun; the rerun resumes from checkpoint 4.")
    assert sorted(p.name for p in checkpoints.iterdir()) == ["checkpoint-4"]
    filler.unlink()
    train(tiny_lm_dir, tmp_path / "out", checkpoints)
    assert (tmp_path / "out" / WEIGHTS).read_bytes() == (runs / "straight" / WEIGHTS).read_bytes()


def test_a_full_disk_while_saving_the_model_leaves_no_weights(tiny_lm_dir, small_disk, tmp_path):
    output = small_disk("16k")
    with pytest.raises(DiskFullError) as raised:
        train(tiny_lm_dir, output, tmp_path / "checkpoints")
    assert str(raised.value).startswith(f"the disk is full: writing {output} failed with ")
    assert str(raised.value).endswith("the rerun resumes from checkpoint 12.")
    assert list(output.iterdir()) == []


def test_a_full_disk_while_writing_parquet_is_one_line(small_disk):
    path = small_disk("64k") / "table.parquet"
    frame = pd.DataFrame({"x": [random.Random(i).random() for i in range(50_000)]})
    with pytest.raises(DiskFullError, match=r"failed with \d.* left of 65.5 KB on the filesystem"):
        write_parquet(frame, path)
    assert list(path.parent.iterdir()) == []
