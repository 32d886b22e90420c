"""Load a dataset's rows from the Hub, a local file or an installed corpus into one table.

Every source yields the same shape: one string column per named field plus `row`, the index of
the row in the source, so later stages can always trace an example back to where it came from.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm.auto import tqdm

from dataalign.data import corpora
from dataalign.data.hub import hub_offline
from dataalign.data.local_files import local_batches
from dataalign.errors import DatasetError
from dataalign.io import atomic_path, file_digest, find_installed

log = logging.getLogger(__name__)
ROWS_PER_BATCH = 10_000  # rows held at once when a Hub source is read and written


def iter_rows(
    dataset: str,
    fields: list[str],
    hub: Mapping[str, Any] | None = None,
    local: Mapping[str, Any] | None = None,
    installed: Mapping[str, Any] | None = None,
    max_rows: int | None = None,
    max_missing: float = 0.0,
    skip_rows: int = 0,
    max_chars: int | None = None,
    shuffle: Mapping[str, Any] | None = None,
    batch_rows: int = ROWS_PER_BATCH,
) -> Iterator[pd.DataFrame]:
    """Rows of `dataset` with only `fields` (strings) and `row`, after the first `skip_rows`
    and capped at `max_rows`, in batches: a Hub source (streamed or not) is never held whole.

    `hub` (id, name, split, revision, streaming), `local` (path, format, separator) and
    `installed` (corpus) are the dataset's config entries; the caller passes the one that wins.
    `row` is a row's position in the source. Rows missing a field are dropped and counted; more
    than `max_missing` (a share of all rows) of them fails the dataset, naming the first. A
    field holding a number, a list or a mapping fails it too: text is never guessed from them.
    With `shuffle` (fields, share, seed) the rows are gathered and corrupted by `moved_values`.
    With `max_chars` each field's text is cut to its first `max_chars` characters.
    """
    if shuffle is not None:
        unshuffled = dict(hub=hub, local=local, installed=installed, max_rows=max_rows)
        unshuffled.update(max_missing=max_missing, skip_rows=skip_rows, max_chars=max_chars)
        unshuffled.update(batch_rows=batch_rows)
        every = pd.concat(list(iter_rows(dataset, fields, **unshuffled)), ignore_index=True)
        yield moved_values(every, **shuffle)
        return
    if local is not None:
        frames = local_batches(
            dataset, local["path"], local["format"], local["separator"], batch_rows
        )
        frames = _sliced(frames, skip_rows, max_rows)
    elif installed is not None:
        corpus = iter([corpora.load_corpus(dataset, installed["corpus"])])
        frames = _sliced(corpus, skip_rows, max_rows)
    elif hub is not None:
        frames = _hub_batches(dataset, hub, fields, skip_rows, max_rows, batch_rows)
    else:
        raise DatasetError(f"dataset '{dataset}': give a hub:, local: or installed: source.")
    start, missing, first_missing = skip_rows, 0, 0
    for frame in frames:
        if frame.empty:
            continue
        _require_fields(dataset, fields, list(frame.columns))
        rows = frame[list(fields)].reset_index(drop=True)
        rows.insert(0, "row", range(start, start + len(rows)))
        start += len(rows)
        absent = rows[list(fields)].isna().any(axis=1)
        if absent.any():
            if not missing:
                first_missing = int(rows["row"][absent].iloc[0])
            missing += int(absent.sum())
            rows = rows[~absent].reset_index(drop=True)
        _require_text(dataset, rows, fields)
        if max_chars:
            rows[list(fields)] = rows[list(fields)].apply(lambda column: column.str[:max_chars])
        yield rows
    if start == skip_rows:
        raise DatasetError(_empty_message(dataset, skip_rows, local))
    if missing:
        _report_missing(dataset, fields, missing, start - skip_rows, first_missing, max_missing)


def _empty_message(dataset: str, skip_rows: int, local: Mapping[str, Any] | None) -> str:
    """Why a source gave no rows (skip_rows past its end, a file of blank lines), and the fix."""
    if skip_rows:
        return (
            f"dataset '{dataset}' is empty (0 rows after skip_rows {skip_rows}): the source has "
            f"no more rows than that. Fix: lower datasets.{dataset}.skip_rows."
        )
    if local is None:
        return (
            f"dataset '{dataset}' is empty (0 rows): its source gave no records. Fix: check the "
            f"split, name and revision under datasets.{dataset}, or give it a local file."
        )
    return (
        f"dataset '{dataset}' is empty (0 rows): '{local['path']}' holds no records, only blank "
        "lines or nothing (a copy cut short, or the wrong file). Fix: restore the file with its "
        f"rows, or point datasets.{dataset}.local.path at it."
    )


def moved_rows(n: int, share: float, seed: int) -> np.ndarray:
    """Which of `n` rows a `shuffle` corrupts: a seeded share of them, in the order their values
    move (each takes the value of the one before it, the first the last's)."""
    return np.random.default_rng(seed).permutation(n)[: round(share * n)]


def moved_values(
    rows: pd.DataFrame, fields: list[str], share: float = 1.0, seed: int = 0
) -> pd.DataFrame:
    """A copy of `rows` corrupted on purpose: `fields` of a seeded share of the rows take
    another of those rows' values (a cycle, so none keeps its own), e.g. answers that no longer
    match their questions."""
    moved, corrupted = moved_rows(len(rows), share, seed), rows.copy()
    for field in fields:
        values = rows[field].to_numpy().copy()
        values[moved] = rows[field].to_numpy()[np.roll(moved, 1)]
        corrupted[field] = values
    return corrupted


def corrupted_rows(rows: pd.DataFrame, shuffle: Mapping[str, Any]) -> set[int]:
    """The source row numbers whose values a dataset's `shuffle` (its checked config) moved,
    read back from the corrupted dataset's rows in the order `moved_values` saw them: the
    planted errors a panel's example flags should find."""
    moved = moved_rows(len(rows), shuffle["share"], shuffle["seed"])
    return set(rows["row"].to_numpy()[moved].tolist())


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


def _sliced(
    frames: Iterator[pd.DataFrame], skip_rows: int, max_rows: int | None
) -> Iterator[pd.DataFrame]:
    """`max_rows` rows (all for None) of a stream of tables, after its first `skip_rows`."""
    left, skip = max_rows, skip_rows
    for frame in frames:
        frame, skip = frame.iloc[skip:], skip - min(skip, len(frame))
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


def _require_text(dataset: str, rows: pd.DataFrame, fields: list[str]) -> None:
    """Every value of every field is a string; the first that is not is named with its row."""
    for field in fields:
        wrong = ~rows[field].map(lambda value: isinstance(value, str))
        if wrong.any():
            row, value = rows["row"][wrong].iloc[0], rows[field][wrong].iloc[0]
            raise DatasetError(
                f"dataset '{dataset}': field '{field}' of row {row} is {type(value).__name__} "
                f"{str(value)[:40]!r}, not text ({int(wrong.sum())} such row(s) in this batch). "
                f"Fix: name text fields in datasets.{dataset}.fields."
            )


def _report_missing(
    dataset: str, fields: list[str], missing: int, total: int, first: int, max_missing: float
) -> None:
    """Rows missing a field are dropped; the dataset fails when more than the allowed share do."""
    share = missing / total
    message = (
        f"dataset '{dataset}': {missing} of {total} rows ({share:.1%}) miss one of the fields "
        f"{fields} (the first is row {first})"
    )
    if share > max_missing:
        raise DatasetError(
            f"{message}. Fix: repair the source, name fields every row has, or accept dropping "
            f"them with datasets.{dataset}.max_missing: {math.ceil(share * 1000) / 1000}."
        )
    log.warning("%s; dropped (max_missing %s).", message, max_missing)


def _hub_batches(
    dataset: str,
    source: Mapping[str, Any],
    fields: list[str],
    skip_rows: int,
    max_rows: int | None,
    size: int,
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
        offline = hub_offline()
        reason = f"{offline} is set" if offline else "the Hub is unreachable or the id is wrong"
        raise DatasetError(
            f"dataset '{dataset}': cannot load '{source['id']}' from the Hugging Face Hub "
            f"({reason}: {error}). Fix: run once online to fill the cache, or give it a local "
            f"file, which wins over hub: datasets.{dataset}.local: {{path: data/{dataset}.jsonl}}."
        ) from error
    if source["streaming"]:
        loaded = loaded.skip(skip_rows) if skip_rows else loaded
        loaded = loaded.take(max_rows) if max_rows is not None else loaded
    else:
        _require_fields(dataset, fields, loaded.column_names)
        stop = len(loaded) if max_rows is None else min(skip_rows + max_rows, len(loaded))
        if skip_rows or stop < len(loaded):
            loaded = loaded.select(range(min(skip_rows, stop), stop))
    for batch in loaded.iter(batch_size=size):
        yield pd.DataFrame(batch)


def _require_fields(dataset: str, fields: list[str], columns: list[str]) -> None:
    missing = [f for f in fields if f not in columns]
    if missing:
        raise DatasetError(
            f"dataset '{dataset}': field(s) {missing} not found; the source has columns "
            f"{columns}. Fix: datasets.{dataset}.fields."
        )
