"""Load a dataset's rows from the Hub, a local file or an installed corpus into one table.

Every source yields the same shape: one string column per named field plus `row`, the index of
the row in the source, so later stages can always trace an example back to where it came from.
"""

from __future__ import annotations

import gzip
import io
import logging
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm.auto import tqdm

from dataalign import corpora
from dataalign.errors import DatasetError
from dataalign.io import atomic_path, file_digest, find_installed

log = logging.getLogger(__name__)
LOCAL_FORMATS = ("jsonl", "json", "csv", "parquet", "txt")
ROWS_PER_BATCH = 10_000  # rows held at once when a Hub source is read and written


def iter_rows(
    dataset: str,
    fields: list[str],
    hub: Mapping[str, Any] | None = None,
    local: Mapping[str, Any] | None = None,
    installed: Mapping[str, Any] | None = None,
    max_rows: int | None = None,
    batch_rows: int = ROWS_PER_BATCH,
) -> Iterator[pd.DataFrame]:
    """Rows of `dataset` with only `fields` (as strings) and `row`, capped at `max_rows`, in
    batches: a Hub source (streamed or not) is never held whole.

    `hub` (id, name, split, revision, streaming), `local` (path, format, separator) and
    `installed` (corpus) are the dataset's config entries; the caller passes the one that wins.
    """
    if local is not None:
        frames = _local_batches(
            dataset, local["path"], local["format"], local["separator"], batch_rows
        )
        frames = _capped(frames, max_rows)
    elif installed is not None:
        frames = _capped(iter([corpora.load_corpus(dataset, installed["corpus"])]), max_rows)
    elif hub is not None:
        frames = _hub_batches(dataset, hub, fields, max_rows, batch_rows)
    else:
        raise DatasetError(f"dataset '{dataset}': give a hub:, local: or installed: source.")
    start = 0
    for frame in frames:
        if frame.empty:
            continue
        _require_fields(dataset, fields, list(frame.columns))
        rows = frame[list(fields)].map(_as_text).reset_index(drop=True)
        rows.insert(0, "row", range(start, start + len(rows)))
        start += len(rows)
        yield rows
    if start == 0:
        raise DatasetError(f"dataset '{dataset}' is empty (0 rows). Fix: check its source.")


HASHED_UP_TO = 2**30  # bytes; a larger local file is fingerprinted by size and mtime


def source_fingerprint(source: Mapping[str, Any]) -> str | None:
    """What a source's content is where it can change without a config edit: a local file's
    hash, an installed corpus's fingerprint (Python version, files, distributions). A Hub
    source is named by its id and revision in the config itself (None)."""
    if "local" in source:
        path = find_installed(source["local"]["path"])
        if path is None or not path.is_file():
            return None  # the download job says what is missing
        stat = path.stat()
        if stat.st_size > HASHED_UP_TO:
            return f"size {stat.st_size}, modified {stat.st_mtime_ns}"
        return file_digest(path)
    if "installed" in source:
        return corpora.corpus_fingerprint(source["installed"]["corpus"])
    return None


def _capped(frames: Iterator[pd.DataFrame], max_rows: int | None) -> Iterator[pd.DataFrame]:
    """The first `max_rows` rows of a stream of tables (all of them for None)."""
    left = max_rows
    for frame in frames:
        if left is not None:
            frame, left = frame.head(left), left - min(left, len(frame))
        yield frame
        if left == 0:
            return


def load_rows(dataset: str, fields: list[str], **source: Any) -> pd.DataFrame:
    """All rows of `dataset` in one table (see `iter_rows`; for sources that fit in memory)."""
    return pd.concat(list(iter_rows(dataset, fields, **source)), ignore_index=True)


def write_rows(dataset: str, fields: list[str], path: str | os.PathLike, **source: Any) -> int:
    """Write a dataset's rows to Parquet a batch (row group) at a time; returns the row count."""
    schema = pa.schema([("row", pa.int64()), *((field, pa.string()) for field in fields)])
    count = 0
    with (
        atomic_path(path) as tmp,
        pq.ParquetWriter(tmp, schema, compression="zstd") as writer,
        tqdm(unit="rows", desc=f"read {dataset}") as bar,
    ):
        for rows in iter_rows(dataset, fields, **source):
            writer.write_table(pa.Table.from_pandas(rows, schema, preserve_index=False))
            count += len(rows)
            bar.update(len(rows))
    log.info("%s: %d rows", dataset, count)
    return count


def _as_text(value: Any) -> str:
    """Missing values become empty strings (dropped later); everything else its string form."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    return value if isinstance(value, str) else str(value)


def _hub_batches(
    dataset: str, source: Mapping[str, Any], fields: list[str], max_rows: int | None, size: int
) -> Iterator[pd.DataFrame]:
    import datasets

    try:
        loaded = datasets.load_dataset(
            source["id"],
            source["name"],
            split=source["split"],
            revision=source["revision"],
            streaming=source["streaming"],
        )
    except (ConnectionError, datasets.exceptions.DatasetNotFoundError) as error:
        offline = os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false")
        reason = "HF_HUB_OFFLINE is set" if offline else "the Hub is unreachable or the id is wrong"
        raise DatasetError(
            f"dataset '{dataset}': cannot load '{source['id']}' from the Hugging Face Hub "
            f"({reason}: {error}). Fix: run once online to fill the cache, or give it a local "
            f"file, which wins over hub: datasets.{dataset}.local: {{path: data/{dataset}.jsonl}}."
        ) from error
    if source["streaming"]:
        loaded = loaded.take(max_rows) if max_rows is not None else loaded
    else:
        _require_fields(dataset, fields, loaded.column_names)
        if max_rows is not None:
            loaded = loaded.select(range(min(max_rows, len(loaded))))
    for batch in loaded.iter(batch_size=size):
        yield pd.DataFrame(batch)


def _require_fields(dataset: str, fields: list[str], columns: list[str]) -> None:
    missing = [f for f in fields if f not in columns]
    if missing:
        raise DatasetError(
            f"dataset '{dataset}': field(s) {missing} not found; the source has columns "
            f"{columns}. Fix: datasets.{dataset}.fields."
        )


def _local_batches(
    dataset: str, reference: str, fmt: str | None, separator: str, size: int
) -> Iterator[pd.DataFrame]:
    """A local file's rows: Parquet and JSONL (gzip or not) a batch at a time; JSON arrays,
    CSV and plain text, whose records cannot be split without parsing the whole, at once."""
    path = find_installed(reference)
    if path is None or not path.is_file():
        raise DatasetError(
            f"dataset '{dataset}': local file '{reference}' does not exist. "
            f"Fix: datasets.{dataset}.local.path (relative to the working directory, or "
            "package/file inside an installed package)."
        )
    fmt = fmt or _infer_format(dataset, path)
    if fmt == "parquet":
        for batch in pq.ParquetFile(path).iter_batches(size):
            yield batch.to_pandas()
        return
    if fmt == "jsonl":
        opener = gzip.open if _is_gzip(path) else open
        with opener(path, "rb") as handle:
            lines: list[bytes] = []
            for line in handle:
                if line.strip():
                    lines.append(line)
                if len(lines) == size:
                    yield _json_lines(path, lines)
                    lines = []
            if lines:
                yield _json_lines(path, lines)
        return
    text = _decode(path, path.read_bytes())
    if fmt == "json":
        yield pd.read_json(io.StringIO(text), dtype=False)
    elif fmt == "csv":
        yield pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    else:
        pieces = text.replace("\r\n", "\n").split(separator)
        yield pd.DataFrame({"text": [p.strip() for p in pieces if p.strip()]})


def _json_lines(path: Path, lines: list[bytes]) -> pd.DataFrame:
    text = _decode(path, b"".join(lines))
    return pd.read_json(io.StringIO(text), lines=True, dtype=False)


def _is_gzip(path: Path) -> bool:
    with open(path, "rb") as handle:
        return handle.read(2) == b"\x1f\x8b"


def _infer_format(dataset: str, path: Path) -> str:
    suffixes = [s.lstrip(".") for s in path.suffixes if s != ".gz"]
    fmt = suffixes[-1] if suffixes else ""
    if fmt not in LOCAL_FORMATS:
        raise DatasetError(
            f"dataset '{dataset}': cannot tell the format of '{path.name}'. "
            f"Fix: set datasets.{dataset}.local.format to one of {list(LOCAL_FORMATS)}."
        )
    return fmt


def _decode(path: Path, raw: bytes) -> str:
    """Decode as UTF-8 (gzip-aware), replacing undecodable bytes instead of failing the run;
    warns only when bytes were replaced (U+FFFD already in valid text is left alone)."""
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        log.warning("%s: replaced bytes that are not valid UTF-8 with U+FFFD", path)
        return raw.decode("utf-8", errors="replace")
