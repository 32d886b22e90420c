"""Real text that every Python installation carries, for runs without the Hub or any download.

Three corpora that differ in how much they look like code benchmarks such as HumanEval:
standard-library functions with their docstrings (code), the language reference topics that
`pydoc` ships (prose about Python), and the license texts of installed distributions (legal
prose). Rows come in a fixed order, so a dataset built here is the same on every run of one
installation; other Python versions or package sets give other (equally real) rows.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.metadata
import re
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
