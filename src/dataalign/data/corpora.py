"""Real text that every Python installation carries, for runs without the Hub or any download.

Three corpora that differ in how much they look like code benchmarks such as HumanEval:
standard-library functions with their docstrings (code), the language reference topics that
`pydoc` ships (prose about Python), and the license texts of installed distributions (legal
prose). Rows come in a fixed order, so a dataset built here is the same on every run of one
installation; other Python versions or package sets give other (equally real) rows, and
`corpus_fingerprint` changes with them so the pipeline reruns what depends on them.

The offline demo does not read these live corpora: it reads a snapshot shipped with the package
(`dataalign/data/demo/`, pinned by SHA-256), written once by `write_demo_corpus`, so its numbers
are the same on every machine.
"""

from __future__ import annotations

import ast
import gzip
import hashlib
import importlib.metadata
import json
import re
import sys
import sysconfig
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd

from dataalign.errors import DatasetError

LICENSE_FILE = re.compile(r"^(LICEN[CS]E|COPYING|NOTICE)", re.IGNORECASE)
SKIPPED_STDLIB = {"test", "tests", "idlelib", "lib2to3", "site-packages", "dist-packages"}


def python_functions(min_lines: int = 4, max_lines: int = 80) -> pd.DataFrame:
    """Functions with a docstring from the standard library's own source, one per row.

    Test suites and vendored code are skipped; very short or very long functions are dropped
    so that an example is a readable unit like a HumanEval problem.
    """
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    rows = []
    for path in sorted(stdlib.rglob("*.py")):
        if SKIPPED_STDLIB & set(path.relative_to(stdlib).parts):
            continue
        for name, code in _documented_functions(path):
            if min_lines <= code.count("\n") + 1 <= max_lines:
                rows.append({"module": str(path.relative_to(stdlib)), "name": name, "text": code})
    return pd.DataFrame(rows, columns=["module", "name", "text"])


def _documented_functions(path: Path) -> Iterator[tuple[str, str]]:
    try:
        source = path.read_text(encoding="utf-8")
        tree = ast.parse(source)
    except (SyntaxError, UnicodeDecodeError, ValueError):
        return
    lines = source.splitlines()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and ast.get_docstring(node):
            first = min([node.lineno] + [d.lineno for d in node.decorator_list])
            yield node.name, textwrap.dedent("\n".join(lines[first - 1 : node.end_lineno]))


def python_docs() -> pd.DataFrame:
    """The language reference topics `pydoc` shows for `help('topic')`, one topic per row."""
    from pydoc_data.topics import topics

    return pd.DataFrame(
        [{"topic": topic, "text": text.strip()} for topic, text in sorted(topics.items())],
        columns=["topic", "text"],
    )


def licenses() -> pd.DataFrame:
    """Each distinct license text of the installed distributions, ordered by distribution name."""
    rows, seen = [], set()
    distributions = sorted(
        importlib.metadata.distributions(), key=lambda d: (d.metadata["Name"] or "").lower()
    )
    for dist in distributions:
        for file in sorted(dist.files or [], key=str):
            if not LICENSE_FILE.match(Path(file).name):
                continue
            try:
                text = Path(dist.locate_file(file)).read_text(encoding="utf-8").strip()
            except (OSError, UnicodeDecodeError):
                continue
            digest = hashlib.sha1(text.encode()).hexdigest()
            if text and digest not in seen:
                seen.add(digest)
                rows.append({"package": dist.metadata["Name"], "file": str(file), "text": text})
    return pd.DataFrame(rows, columns=["package", "file", "text"])


CORPORA: dict[str, Callable[[], pd.DataFrame]] = {
    "python_functions": python_functions,
    "python_docs": python_docs,
    "licenses": licenses,
}


def load_corpus(dataset: str, corpus: str) -> pd.DataFrame:
    """The rows of an installed corpus by name, with a clear error for an unknown one."""
    if corpus not in CORPORA:
        raise DatasetError(
            f"dataset '{dataset}': unknown installed corpus '{corpus}'. "
            f"Fix: datasets.{dataset}.installed.corpus must be one of {sorted(CORPORA)}."
        )
    return CORPORA[corpus]()


def corpus_fingerprint(corpus: str) -> str:
    """A cheap hash of what an installed corpus is built from (the Python version and the files
    or distributions it reads), so a changed installation reruns what depends on it."""
    parts = [sys.version]
    if corpus == "python_functions":
        stdlib = Path(sysconfig.get_paths()["stdlib"])
        for path in sorted(stdlib.rglob("*.py")):
            if not SKIPPED_STDLIB & set(path.relative_to(stdlib).parts):
                parts.append(f"{path.relative_to(stdlib)}:{path.stat().st_size}")
    elif corpus == "licenses":
        for dist in importlib.metadata.distributions():
            parts.append(f"{dist.metadata['Name']}=={dist.version}")
        parts.sort()
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


DEMO_CHARACTERS = 600_000  # per corpus: ~150k SmolLM2 tokens, 3x what the demo's draws take
DEMO_CHUNK = 2_000  # characters: no document may dominate a 24k-token draw (~2% of it at most)


def chunk_text(text: str, limit: int = DEMO_CHUNK) -> list[str]:
    """Split a long document at paragraph (else line, else character) boundaries into pieces
    of at most `limit` characters; short documents stay whole."""
    pieces: list[str] = []
    for paragraph in re.split(r"\n\s*\n", text.strip()):
        units = [paragraph] if len(paragraph) <= limit else paragraph.splitlines()
        for unit in units:
            unit = unit.strip()
            while len(unit) > limit:
                pieces.append(unit[:limit])
                unit = unit[limit:]
            if not unit:
                continue
            if pieces and len(pieces[-1]) + 2 + len(unit) <= limit:
                pieces[-1] += "\n\n" + unit
            else:
                pieces.append(unit)
    return pieces


def write_demo_corpus(folder: str | Path, characters: int = DEMO_CHARACTERS) -> dict[str, str]:
    """Snapshot the live corpora into the demo's pinned files; returns their SHA-256.

    Functions are taken whole (4-80 lines each); license texts are split into pieces of at most
    `DEMO_CHUNK` characters. Rows are picked in an order fixed by their content's hash, and the
    gzip files carry no timestamp, so the same input gives the same bytes.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    corpora = {
        "python_functions": python_functions().to_dict("records"),
        "licenses": [
            {"package": row["package"], "file": row["file"], "text": piece}
            for row in licenses().to_dict("records")
            for piece in chunk_text(row["text"])
        ],
    }
    digests = {}
    for name, rows in corpora.items():
        rows = sorted(rows, key=lambda r: hashlib.sha256(r["text"].encode()).hexdigest())
        kept, total = [], 0
        for row in rows:
            if total >= characters:
                break
            kept.append(row)
            total += len(row["text"])
        lines = "".join(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n" for row in kept)
        data = gzip.compress(lines.encode(), mtime=0)
        (folder / f"{name}.jsonl.gz").write_bytes(data)
        digests[f"{name}.jsonl.gz"] = hashlib.sha256(data).hexdigest()
    (folder / "SHA256SUMS").write_text("".join(f"{d}  {n}\n" for n, d in sorted(digests.items())))
    return digests


if __name__ == "__main__":  # python -m dataalign.data.corpora src/dataalign/data/demo
    for name, digest in write_demo_corpus(sys.argv[1]).items():
        print(digest, name)
