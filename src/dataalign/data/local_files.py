"""Read a local file (Parquet, JSON lines, JSON, CSV or text; gzip or not) in batches of rows.

Each kind of damage a copied file can carry (cut short, padded with NULs, UTF-16, a bad page)
fails with the file's name, where it broke and what to do, before anything is written.
"""

from __future__ import annotations

import gzip
import io
import json
import logging
import zlib
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from dataalign.errors import DatasetError
from dataalign.io import find_installed

log = logging.getLogger(__name__)
LOCAL_FORMATS = ("jsonl", "json", "csv", "parquet", "txt")


def local_batches(
    dataset: str, reference: str, fmt: str | None, separator: str, size: int
) -> Iterator[pd.DataFrame]:
    """A local file's rows: Parquet and JSONL (gzip or not) a batch at a time; JSON arrays,
    CSV and plain text, whose records cannot be split without parsing the whole, at once.

    A file that cannot be read as its format fails with its name, the line where it can, and
    what to do; nothing is written.
    """
    path = find_installed(reference)
    if path is None or not path.is_file():
        raise DatasetError(
            f"dataset '{dataset}': local file '{reference}' does not exist. "
            f"Fix: datasets.{dataset}.local.path (relative to the working directory, or "
            "package/file inside an installed package)."
        )
    fmt = fmt or _infer_format(dataset, path)
    try:
        yield from _read_local(dataset, path, fmt, separator, size)
    except (gzip.BadGzipFile, EOFError, zlib.error) as error:
        raise DatasetError(
            f"dataset '{dataset}': '{path}' is not a readable gzip file ({error}). Fix: copy or "
            "download it again, or give the uncompressed file."
        ) from None


def _read_local(
    dataset: str, path: Path, fmt: str, separator: str, size: int
) -> Iterator[pd.DataFrame]:
    if fmt == "parquet":
        try:
            source = pq.ParquetFile(path)
        except pa.ArrowInvalid as error:
            raise DatasetError(
                f"dataset '{dataset}': '{path}' is not a Parquet file ({error}). Fix: check the "
                f"file, or set datasets.{dataset}.local.format to the format it is in."
            ) from None
        try:
            for batch in source.iter_batches(size):
                yield batch.to_pandas()
        except (pa.ArrowException, OSError) as error:  # a damaged page: ZSTD, snappy, a CRC
            raise DatasetError(
                f"dataset '{dataset}': '{path}' is a damaged Parquet file: its footer reads but "
                f"a data page does not ({error}). Fix: copy or export the file again (a copy cut "
                "short or changed in place reads like this)."
            ) from None
        return
    opener = gzip.open if is_gzip(path) else open
    with opener(path, "rb") as handle:
        _require_utf8(dataset, path, handle.read(4096))
    if fmt == "jsonl":
        with opener(path, "rb") as handle:
            lines: list[tuple[int, bytes]] = []
            for number, line in enumerate(handle, start=1):
                if b"\x00" in line:
                    _nul_at(dataset, path, f"line {number}")
                if line.strip():
                    lines.append((number, line))
                if len(lines) == size:
                    yield _json_lines(dataset, path, lines)
                    lines = []
            if lines:
                yield _json_lines(dataset, path, lines)
        return
    with opener(path, "rb") as handle:
        raw = handle.read()
    nul = raw.find(b"\x00")  # past the first 4 KB: a file damaged or padded with NULs
    if nul >= 0:
        _nul_at(dataset, path, f"byte {nul:,}")
    text = _decode(path, raw)
    if fmt == "json":
        try:
            yield pd.read_json(io.StringIO(text), dtype=False)
        except ValueError as error:
            raise DatasetError(
                f"dataset '{dataset}': '{path}' is not one valid JSON document ({error}). Fix: "
                f"repair it; a file with one JSON object per line needs "
                f"datasets.{dataset}.local.format: jsonl."
            ) from None
    elif fmt == "csv":
        try:
            yield pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
        except pd.errors.ParserError as error:
            raise DatasetError(
                f"dataset '{dataset}': '{path}' is not valid CSV ({error}). Fix: repair the row "
                "named (an unclosed quote makes the rest of the file one field)."
            ) from None
    else:
        pieces = text.replace("\r\n", "\n").split(separator)
        yield pd.DataFrame({"text": [p.strip() for p in pieces if p.strip()]})


def _json_lines(dataset: str, path: Path, lines: list[tuple[int, bytes]]) -> pd.DataFrame:
    """One JSON object per line; the first line that is not one is named with its number."""
    texts = _decode(path, b"\n".join(line.rstrip(b"\r\n") for _, line in lines)).split("\n")
    records = []
    for (number, _), text in zip(lines, texts, strict=True):
        try:
            record = json.loads(text)
        except json.JSONDecodeError as error:
            array = number == 1 and text.lstrip().startswith("[")
            fix = (
                f"it holds a JSON array: set datasets.{dataset}.local.format: json"
                if array
                else "repair or remove that line (a truncated line is often the last one)"
            )
            raise DatasetError(
                f"dataset '{dataset}': line {number} of '{path}' is not valid JSON ({error.msg} "
                f"at column {error.colno}): "
                f"{text[:60]!r}. Fix: {fix}."
            ) from None
        if not isinstance(record, dict):
            kind = "an array" if isinstance(record, list) else f"a {type(record).__name__}"
            raise DatasetError(
                f"dataset '{dataset}': line {number} of '{path}' is {kind}, not an object with "
                f"fields. Fix: one JSON object per line, or datasets.{dataset}.local.format: "
                "json for a file that is one JSON array."
            )
        records.append(record)
    return pd.DataFrame.from_records(records)


def _require_utf8(dataset: str, path: Path, head: bytes) -> None:
    """UTF-16 and binary files fail at once instead of decoding to replacement characters."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in head:
        raise DatasetError(
            f"dataset '{dataset}': '{path}' is not UTF-8 text (NUL bytes or a UTF-16 byte-order "
            f"mark: UTF-16, or binary). Fix: convert it to UTF-8, e.g. "
            f"iconv -f UTF-16 -t UTF-8 '{path.name}' > '{path.stem}.utf8{path.suffix}'."
        )


def _nul_at(dataset: str, path: Path, where: str) -> None:
    raise DatasetError(
        f"dataset '{dataset}': '{path}' has NUL bytes at {where}: UTF-8 text never does, so the "
        "file is damaged (a copy cut short or padded) or binary. Fix: restore the file, or "
        "remove the NULs if the rest is right (tr -d '\\000')."
    )


def is_gzip(path: Path) -> bool:
    with open(path, "rb") as handle:
        return handle.read(2) == b"\x1f\x8b"


def suffix_format(path: Path) -> str:
    """A local file's format as its suffix names it (`.gz` aside); '' when it has none."""
    suffixes = [s.lstrip(".") for s in path.suffixes if s != ".gz"]
    return suffixes[-1] if suffixes else ""


def _infer_format(dataset: str, path: Path) -> str:
    fmt = suffix_format(path)
    if fmt not in LOCAL_FORMATS:
        raise DatasetError(
            f"dataset '{dataset}': cannot tell the format of '{path.name}'. "
            f"Fix: set datasets.{dataset}.local.format to one of {list(LOCAL_FORMATS)}."
        )
    return fmt


def _decode(path: Path, raw: bytes) -> str:
    """Decode UTF-8 (a leading byte-order mark dropped), replacing undecodable bytes instead of
    failing the run; warns, with the count, only when bytes were replaced (U+FFFD already in
    valid text is left alone)."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("utf-8-sig", errors="replace")
        replaced = text.count("\ufffd") - raw.count("\ufffd".encode())
        log.warning("%s: replaced %d invalid UTF-8 sequence(s) with U+FFFD", path, replaced)
        return text
