"""Files an earlier job wrote, cut short or corrupted (a kill mid-write on a filesystem without
atomic rename, a full disk, bad storage), fail with one line naming the file and the fix:
never a reader's traceback, never silent use."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from dataalign.errors import DamagedFileError
from dataalign.io import (
    ParquetColumn,
    load_tokens,
    parquet_batches,
    read_json,
    read_parquet,
    write_parquet,
    write_table,
    write_text,
)

MESSAGE = r"{path} cannot be read \(.+\): an earlier job was cut short while writing it, or the "
FIX = r"disk corrupted it. Fix: delete it and rerun; Snakemake rebuilds it"


def table(rows: int = 20_000) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    words = np.array(["alpha", "beta", "gamma", "delta", "proof", "lemma", "set"])
    return pd.DataFrame(
        {
            "row": np.arange(rows),
            "text": [" ".join(rng.choice(words, 12)) for _ in range(rows)],
            "n_tokens": rng.integers(1, 50, rows),
        }
    )


def cut(path, keep: float = 0.5):
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def corrupt_a_page(path):
    """Overwrite bytes in the data pages; the footer (and so the schema) stays readable."""
    data = bytearray(path.read_bytes())
    start = len(data) // 4
    data[start : start + 2000] = b"\xff" * 2000
    path.write_bytes(bytes(data))
    return path


READERS = {
    "subset Parquet (embed jobs)": lambda p: list(ParquetColumn(p, "text")),
    "subset Parquet, drawn rows (Task2Vec)": lambda p: ParquetColumn(p, "text").take(
        np.arange(0, 20_000, 7)
    ),
    "rows file (subset jobs)": lambda p: [b for b in parquet_batches(p, 2048, ["row", "text"])],
    "eval subset or embedding (evaluate, align jobs)": read_parquet,
}


@pytest.mark.parametrize("damage", [cut, corrupt_a_page])
@pytest.mark.parametrize("reader", READERS)
def test_a_damaged_parquet_file_is_named_with_the_fix(tmp_path, reader, damage):
    path = tmp_path / "subset.parquet"
    write_parquet(table(), path)
    damage(path)
    with pytest.raises(DamagedFileError, match=MESSAGE.format(path=path) + FIX) as raised:
        READERS[reader](path)
    assert "\n" not in str(raised.value)


def test_a_cut_table_a_later_job_reads_is_named_where_its_csv_parsed(tmp_path):
    """compare_metrics and selection_study read correlate's and selection_table's tables from
    the Parquet copy `write_table` writes beside the CSV for people: a CSV cut mid-row parses
    into fewer rows (what compare_metrics once drew its figure from), a cut Parquet file fails."""
    points = table(40)
    files = [tmp_path / f"points_gzip.{suffix}" for suffix in ("csv", "md", "tex", "parquet")]
    write_table(points, *files)
    pd.testing.assert_frame_equal(read_parquet(files[-1]), points)
    for path in (files[0], files[-1]):
        cut(path, 0.6)
    assert 0 < len(pd.read_csv(files[0])) < len(points)  # no error: the rows left, silently
    with pytest.raises(DamagedFileError, match=MESSAGE.format(path=files[-1]) + FIX) as raised:
        read_parquet(files[-1])
    assert "\n" not in str(raised.value)


def test_a_cut_json_report_a_later_job_reads_is_named(tmp_path):
    """A choice's or a scoring job's report (read by selection_table), lm-eval's results (read
    by a panel's table job): cut short, one line, not a JSONDecodeError traceback."""
    path = tmp_path / "300-0.choice.json"
    write_text('{"strategy": "gzip", "seed": 0, "tokens": 300, "wall_s": 1.5}', path)
    assert read_json(path)["tokens"] == 300
    cut(path, 0.6)
    with pytest.raises(DamagedFileError, match=MESSAGE.format(path=path) + FIX) as raised:
        read_json(path)
    assert "\n" not in str(raised.value)


def test_a_token_file_shorter_than_its_header_says_is_named(tmp_path):
    path = tmp_path / "subset.tokens.npy"
    np.save(path, np.arange(100_000, dtype=np.uint16))
    assert len(load_tokens(path)) == 100_000
    cut(path, 0.6)
    with pytest.raises(DamagedFileError, match=MESSAGE.format(path=path) + FIX):
        load_tokens(path)


def test_a_job_reading_a_damaged_file_prints_one_line_and_no_traceback(tmp_path):
    path = tmp_path / "eval.parquet"
    write_parquet(table(), path)
    cut(path)
    code = (
        "import sys\n"
        "from dataalign.io import read_parquet\n"
        "from dataalign.jobs import job_logging\n"
        f"with job_logging({str(tmp_path / 'job.log')!r}):\n"
        f"    read_parquet({str(path)!r})\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert result.stderr.startswith(f"{path} cannot be read") and "Traceback" not in result.stderr
