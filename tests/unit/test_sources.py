"""Loading rows from local files in every format, and the errors a bad source gets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from dataalign.data.sources import load_rows
from dataalign.errors import DatasetError


def local(path: Path, **extra) -> dict:
    """A `local:` entry with the schema's defaults."""
    return {"path": str(path), "format": None, "separator": "\n", **extra}


def test_jsonl_keeps_named_fields_and_source_row(fixture_data):
    rows = load_rows("pairs", ["informal", "formal"], local=local(fixture_data["pairs"]))
    assert list(rows.columns) == ["row", "informal", "formal"]
    assert len(rows) == 120
    assert rows["row"].tolist() == list(range(120))


def test_txt_splits_on_separator_and_drops_blank_pieces(fixture_data):
    rows = load_rows("prose", ["text"], local=local(fixture_data["prose"], separator="\n\n"))
    assert len(rows) == 150
    assert not rows["text"].str.contains("\n").any()


def test_csv_gz_json_and_parquet(fixture_data, tmp_path):
    assert len(load_rows("table", ["text"], local=local(fixture_data["table"]))) == 80
    assert len(load_rows("records", ["text"], local=local(fixture_data["records"]))) == 30
    parquet = tmp_path / "t.parquet"
    pd.DataFrame({"text": ["a b", "c"], "n": [1, 2]}).to_parquet(parquet)
    assert load_rows("t", ["text"], local=local(parquet))["text"].tolist() == ["a b", "c"]
    with pytest.raises(DatasetError, match=r"field 'n' of row 0 is int64 '1', not text"):
        load_rows("t", ["text", "n"], local=local(parquet))  # numbers are not made into text


def test_max_rows_caps_rows(fixture_data):
    assert len(load_rows("pairs", ["formal"], local=local(fixture_data["pairs"]), max_rows=7)) == 7


def test_non_utf8_bytes_are_replaced_not_fatal(tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes("caf\xe9 au lait\nplain line\n".encode("latin-1"))
    rows = load_rows("latin1", ["text"], local=local(path))
    assert rows["text"].tolist() == ["caf\ufffd au lait", "plain line"]
    jsonl = tmp_path / "bad.jsonl"
    jsonl.write_bytes(b'{"text": "ok \xff here"}\n')
    assert load_rows("bad", ["text"], local=local(jsonl))["text"][0] == "ok \ufffd here"


def test_missing_field_names_dataset_field_and_columns(fixture_data):
    with pytest.raises(
        DatasetError, match=r"dataset 'pairs': field\(s\) \['statement'\] not found"
    ):
        load_rows("pairs", ["statement"], local=local(fixture_data["pairs"]))


def test_empty_file_is_an_error(tmp_path):
    path = tmp_path / "empty.jsonl"
    path.write_text("\n")
    with pytest.raises(DatasetError, match=r"dataset 'empty' is empty \(0 rows\)"):
        load_rows("empty", ["text"], local=local(path))


def test_missing_file_and_unknown_format(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        load_rows("gone", ["text"], local=local(tmp_path / "gone.jsonl"))
    odd = tmp_path / "data.xyz"
    odd.write_text("x")
    with pytest.raises(DatasetError, match=r"set datasets.odd.local.format"):
        load_rows("odd", ["text"], local=local(odd))


def test_hub_source_offline_says_how_to_use_a_local_file(tmp_path):
    """The real Hub code path, with HF_HUB_OFFLINE set (as on an air-gapped node)."""
    code = (
        "from dataalign.data.sources import load_rows\n"
        "load_rows('af', ['text'], hub={'id': 'brando/debug1_af', 'name': None, "
        "'split': 'train', 'revision': 'main', 'streaming': False})\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0
    assert "dataset 'af': cannot load 'brando/debug1_af'" in result.stderr
    assert "HF_HUB_OFFLINE is set" in result.stderr
    assert "datasets.af.local: {path:" in result.stderr


def hub_stream(n: int):
    """A streamed dataset like `load_dataset(..., streaming=True)` returns, built locally."""
    import datasets

    def rows():
        for i in range(n):
            yield {"text": f"document {i} " + "word " * (i % 7), "meta": i}

    return datasets.IterableDataset.from_generator(rows)


def test_streamed_hub_source_is_written_a_batch_at_a_time(monkeypatch, tmp_path):
    """Rows go to Parquet row groups as they arrive: no step holds the whole stream."""
    import datasets
    import pyarrow.parquet as pq

    from dataalign.data.sources import write_rows

    seen = []
    stream = hub_stream(2_500)
    monkeypatch.setattr(datasets, "load_dataset", lambda *a, **k: seen.append(k) or stream)
    source = {
        "id": "org/big",
        "name": None,
        "split": "train",
        "revision": "main",
        "streaming": True,
    }
    path = tmp_path / "rows.parquet"
    assert write_rows("big", ["text"], path, hub=source, batch_rows=1_000) == 2_500
    assert seen[0]["streaming"] is True
    stored = pq.ParquetFile(path)
    assert stored.metadata.num_row_groups == 3  # 1000 + 1000 + 500
    table = stored.read().to_pandas()
    assert table["row"].tolist() == list(range(2_500))
    assert table["text"].iloc[1_234].startswith("document 1234 ")
    capped = tmp_path / "capped.parquet"
    assert (
        write_rows("big", ["text"], capped, hub=source, max_rows=1_500, batch_rows=1_000) == 1_500
    )
    sliced = load_rows("big", ["text"], hub=source, skip_rows=2_000, batch_rows=1_000)
    assert sliced["row"].tolist() == list(range(2_000, 2_500))
    assert sliced["text"].iloc[0].startswith("document 2000 ")


@pytest.mark.parametrize("compress", [False, True])
def test_local_jsonl_is_read_a_batch_at_a_time(tmp_path, compress):
    import gzip

    import pyarrow.parquet as pq

    from dataalign.data.sources import write_rows

    lines = "\n".join(json.dumps({"text": f"line {i}"}) for i in range(2_500)).encode()
    path = tmp_path / ("big.jsonl.gz" if compress else "big.jsonl")
    path.write_bytes(gzip.compress(lines) if compress else lines)
    local = {"path": str(path), "format": None, "separator": "\n"}
    out = tmp_path / "rows.parquet"
    assert write_rows("big", ["text"], out, local=local, batch_rows=1_000) == 2_500
    assert pq.ParquetFile(out).metadata.num_row_groups == 3
    assert write_rows("big", ["text"], out, local=local, max_rows=1_200, batch_rows=1_000) == 1_200
    # two disjoint slices of one file, across batch boundaries, keep the file's row numbers
    head = load_rows("big", ["text"], local=local, max_rows=1_500, batch_rows=1_000)
    tail = load_rows("big", ["text"], local=local, skip_rows=1_500, batch_rows=1_000)
    assert head["row"].tolist() + tail["row"].tolist() == list(range(2_500))
    assert tail["text"].iloc[0] == "line 1500"
    with pytest.raises(DatasetError, match=r"'big' is empty \(0 rows after skip_rows 3000\)"):
        load_rows("big", ["text"], local=local, skip_rows=3_000)


def test_max_chars_reads_long_documents_as_short_examples(tmp_path):
    """Each field cut to its first `max_chars` characters (a pair's fields each); shorter text
    and the row numbers untouched; the download spec carries the cap only where it is set, so
    no other dataset's rows are read again."""
    from dataalign.plan.lookup import download_spec

    path = tmp_path / "docs.jsonl"
    rows = [{"q": "x" * 50, "a": "short"}, {"q": "y" * 7, "a": "z" * 30}]
    path.write_text("\n".join(json.dumps(row) for row in rows))
    local = {"path": str(path), "format": None, "separator": "\n"}
    cut = load_rows("docs", ["q", "a"], local=local, max_chars=10)
    assert cut["q"].tolist() == ["x" * 10, "y" * 7] and cut["a"].tolist() == ["short", "z" * 10]
    assert cut["row"].tolist() == [0, 1]
    entry = {"fields": ["q", "a"], "max_rows": None, "max_missing": 0, "local": local}
    config = {"datasets": {"docs": entry}}
    assert "max_chars" not in download_spec(config, "docs")
    entry["max_chars"] = 10
    assert load_rows("docs", **download_spec(config, "docs")).equals(cut)


def test_valid_text_containing_the_replacement_character_gets_no_warning(tmp_path, caplog):
    path = tmp_path / "c4.jsonl"
    path.write_text('{"text": "a scraped page with \\ufffd in it"}\n', encoding="utf-8")
    rows = load_rows("c4", ["text"], local={"path": str(path), "format": None, "separator": "\n"})
    assert rows["text"][0] == "a scraped page with \ufffd in it"
    assert "replaced" not in caplog.text
    path.write_bytes(b'{"text": "broken \xff byte"}\n')
    load_rows("c4", ["text"], local={"path": str(path), "format": None, "separator": "\n"})
    assert "replaced 1 invalid UTF-8 sequence(s) with U+FFFD" in caplog.text


def write_bad(folder: Path, name: str, content: bytes) -> Path:
    path = folder / name
    path.write_bytes(content)
    return path


def corrupt_gzip(folder: Path) -> Path:
    import gzip

    whole = gzip.compress(b'{"text": "a"}\n' * 2000)
    return write_bad(folder, "cut.jsonl.gz", whole[: len(whole) // 2])


BAD_FILES = {
    "truncated JSONL line": (
        lambda d: write_bad(d, "cut.jsonl", b'{"text": "one"}\n{"text": "two"}\n{"text": "th'),
        r"line 3 of '.*cut.jsonl' is not valid JSON \(.*\): '\{\"text\": \"th'. Fix: repair or "
        r"remove that line",
    ),
    "JSON array in a .jsonl": (
        lambda d: write_bad(d, "array.jsonl", b'[{"text": "a"},\n {"text": "b"}]\n'),
        r"line 1 of '.*array.jsonl' is not valid JSON .* Fix: it holds a JSON array: set "
        r"datasets.bad.local.format: json",
    ),
    "JSON array on one line": (
        lambda d: write_bad(d, "array.jsonl", b'[{"text": "a"}, {"text": "b"}]\n'),
        r"line 1 of '.*array.jsonl' is an array, not an object with fields",
    ),
    "CSV with a broken quote": (
        lambda d: write_bad(d, "quote.csv", b'text,label\n"fine",1\n"unclosed,2\nmore,3\n'),
        r"'.*quote.csv' is not valid CSV \(.*EOF inside string starting at row 2.*\)",
    ),
    "corrupt gzip": (
        corrupt_gzip,
        r"'.*cut.jsonl.gz' is not a readable gzip file \(Compressed file ended",
    ),
    "not Parquet": (
        lambda d: write_bad(d, "fake.parquet", b'{"text": "I am JSON"}\n'),
        r"'.*fake.parquet' is not a Parquet file \(.*\). Fix: check the file",
    ),
    "UTF-16 text": (
        lambda d: write_bad(d, "wide.txt", "hello\nworld\n".encode("utf-16")),
        r"'.*wide.txt' is not UTF-8 text .* Fix: convert it to UTF-8, e.g. iconv -f UTF-16",
    ),
    "NUL bytes after the first 4 KB of a text file": (
        lambda d: write_bad(d, "padded.txt", b"a fine paragraph\n\n" * 400 + b"cut \0\0\0 here"),
        r"'.*padded.txt' has NUL bytes at byte 7,204: UTF-8 text never does, so the file is "
        r"damaged .* Fix: restore the file",
    ),
    "NUL bytes in a JSONL line": (
        lambda d: write_bad(d, "padded.jsonl", b'{"text": "a"}\n' * 400 + b'{"text": "\0"}\n'),
        r"'.*padded.jsonl' has NUL bytes at line 401",
    ),
    "a number in a text field": (
        lambda d: write_bad(d, "typed.jsonl", b'{"text": "ok"}\n{"text": 42}\n'),
        r"field 'text' of row 1 is int '42', not text",
    ),
    "a list in a text field": (
        lambda d: write_bad(d, "typed.jsonl", b'{"text": ["a", "b"]}\n'),
        r"field 'text' of row 0 is list \"\['a', 'b'\]\", not text",
    ),
}


@pytest.mark.parametrize("case", BAD_FILES)
def test_a_bad_file_fails_with_one_line_naming_dataset_file_and_fix(tmp_path, case):
    """Each fails through `write_rows` with one line (no traceback text) and writes nothing."""
    from dataalign.data.sources import write_rows

    make, message = BAD_FILES[case]
    path = make(tmp_path)
    out = tmp_path / "rows.parquet"
    with pytest.raises(DatasetError, match=rf"^dataset 'bad': {message}") as raised:
        write_rows("bad", ["text"], out, local=local(path))
    assert "\n" not in str(raised.value) and "Fix:" in str(raised.value)
    assert not out.exists() and not list(tmp_path.glob("*.tmp*"))


def test_rows_missing_a_field_are_counted_and_fail_above_the_threshold(tmp_path, caplog):
    lines = [b'{"text": "row %d"}' % i for i in range(10)]
    lines[3], lines[7] = b'{"other": "no text"}', b'{"text": null}'
    path = write_bad(tmp_path, "holes.jsonl", b"\n".join(lines) + b"\n")
    with pytest.raises(
        DatasetError,
        match=r"dataset 'holes': 2 of 10 rows \(20.0%\) miss one of the fields \['text'\] "
        r"\(the first is row 3\). Fix: .* datasets.holes.max_missing: 0.2\.",
    ):
        load_rows("holes", ["text"], local=local(path))
    rows = load_rows("holes", ["text"], local=local(path), max_missing=0.2)
    assert rows["row"].tolist() == [0, 1, 2, 4, 5, 6, 8, 9]  # positions in the source kept
    assert "2 of 10 rows (20.0%) miss one of the fields" in caplog.text


@pytest.mark.parametrize("share", [1.0, 0.25])
def test_a_shuffled_copy_moves_answers_between_a_seeded_share_of_rows(tmp_path, share):
    """A corrupted candidate: the chosen rows' answers move to other chosen rows (none keeps its
    own), the rest and the questions stay, and the same seed moves the same rows."""

    from dataalign.data.sources import corrupted_rows, moved_rows

    path = tmp_path / "qa.jsonl"
    path.write_text("".join(json.dumps({"q": f"q{i}", "a": f"a{i}"}) + "\n" for i in range(40)))
    shuffle = {"fields": ["a"], "share": share, "seed": 3}
    rows = load_rows("qa", ["q", "a"], local=local(path), shuffle=shuffle)
    moved = moved_rows(40, share, 3)
    assert len(moved) == round(40 * share)
    assert rows["q"].tolist() == [f"q{i}" for i in range(40)]
    changed = rows.index[rows["a"] != [f"a{i}" for i in range(40)]]
    assert sorted(changed) == sorted(moved)  # every moved row has another row's answer
    assert sorted(rows["a"]) == sorted(f"a{i}" for i in range(40))  # answers only move
    again = load_rows("qa", ["q", "a"], local=local(path), shuffle=shuffle)
    assert rows.equals(again)
    # read back from the corrupted rows alone: which rows a panel's flags should find
    assert corrupted_rows(rows, shuffle) == set(rows.loc[changed, "row"])


def test_a_file_of_blank_lines_is_named_with_a_fix(tmp_path):
    path = tmp_path / "blank.txt"
    path.write_text("   \n\n  \n")
    with pytest.raises(
        DatasetError,
        match=rf"dataset 'blank' is empty \(0 rows\): '{path}' holds no records, only blank "
        r"lines or nothing .* Fix: restore the file with its rows, or point "
        r"datasets.blank.local.path at it",
    ):
        load_rows("blank", ["text"], local=local(path))


def test_a_parquet_source_with_a_damaged_data_page_is_named_with_the_fix(tmp_path):
    """The footer reads, a page does not: one error naming the file, not ZSTD's traceback."""
    import numpy as np

    path = tmp_path / "source.parquet"
    words = np.random.default_rng(0).integers(0, 10**9, 5000).astype(str)
    pd.DataFrame({"text": words}).to_parquet(path, compression="zstd")
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 4 : len(raw) // 2] = bytes(len(raw) // 2 - len(raw) // 4)
    path.write_bytes(bytes(raw))
    with pytest.raises(
        DatasetError,
        match=rf"dataset 'src': '{path}' is a damaged Parquet file: its footer reads but a data "
        r"page does not \(.+\). Fix: copy or export the file again",
    ):
        load_rows("src", ["text"], local=local(path))
