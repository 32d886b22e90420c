"""Datasets: where their rows come from, the fields their format needs, and budgets, windows and
seeds that the files certainly cannot hold."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from dataalign.errors import ConfigError
from dataalign.io import find_installed
from dataalign.plan.lookup import SOURCES, Config, subset_parts, train_budget, train_sets
from dataalign.plan.paths import ALL
from dataalign.templates import PLACEHOLDER

FIELDS_NEEDED = {"text": (1, 1), "pair": (2, 2), "split": (2, None)}


def check_dataset(name: str, entry: Mapping[str, Any], datasets: Config) -> None:
    key = f"datasets.{name}"
    if "mixture" in entry and set(SOURCES) & set(entry):
        raise ConfigError(f"config key {key}: a mixture has no hub:, local: or installed:.")
    if not {*SOURCES, "mixture"} & set(entry):
        raise ConfigError(
            f"config key {key}: say where its rows come from: hub:, local:, installed: or mixture:."
        )
    if "mixture" in entry:
        for part in entry["mixture"]:
            if part not in datasets or "mixture" in datasets[part]:
                raise ConfigError(
                    f"config key {key}.mixture.{part}: a mixture combines datasets with a source "
                    "of their own; declare it under datasets: or remove it."
                )
        return
    fields = entry.get("fields")
    if not fields:
        raise ConfigError(
            f"config key {key}.fields is missing: name the column(s) holding the text, "
            "e.g. fields: [text]."
        )
    low, high = FIELDS_NEEDED[entry["format"]]
    if len(fields) < low or (high is not None and len(fields) > high):
        wanted = f"{low}" if low == high else f"at least {low}"
        raise ConfigError(
            f"config key {key}.fields: format '{entry['format']}' needs {wanted} field(s), "
            f"got {len(fields)}: {fields}."
        )
    moved = [f for f in entry.get("shuffle", {}).get("fields", []) if f not in fields]
    if moved:
        raise ConfigError(
            f"config key {key}.shuffle.fields: {moved} are not in fields {fields}; a shuffle "
            "moves the values of the dataset's own fields."
        )
    unknown = [p for p in PLACEHOLDER.findall(entry.get("template") or "") if p not in fields]
    if unknown:
        raise ConfigError(
            f"config key {key}.template: placeholder(s) {unknown} are not in fields {fields}; "
            "each {name} in the template must be one of the fields."
        )


def check_local_path(name: str, entry: Config) -> None:
    if "local" not in entry:
        return
    path = entry["local"]["path"]
    found = find_installed(path)
    if found is None:
        raise ConfigError(
            f"config key datasets.{name}.local.path: {path!r} does not exist "
            f"(looked in {Path.cwd()} and in installed packages). Fix: correct the path, or run "
            "from the folder it is relative to."
        )
    if found.is_dir():
        files = sorted(f.name for f in found.iterdir() if f.is_file())[:8]
        raise ConfigError(
            f"config key datasets.{name}.local.path: {path!r} is a folder; a dataset is one "
            f"file (.jsonl, .json, .csv, .parquet or .txt, optionally gzipped). Fix: name the "
            f"file inside it (it holds {files})."
        )


def check_sizes(name: str, experiment: Config, config: Config) -> None:
    """Budgets, windows and seeds that cannot work are rejected before any job runs."""
    key, training = f"experiments.{name}", experiment["training"]
    architecture = config["models"][experiment["model"]].get("architecture", {})
    stride = experiment["evaluation"]["stride"]
    context = experiment["evaluation"]["context"] or next(
        (architecture[k] for k in ("n_positions", "max_position_embeddings") if k in architecture),
        None,
    )
    sliding = experiment["evaluation"]["convention"] == "paper"  # lm_eval ignores the stride
    if sliding and stride is not None and context is not None and stride >= context:
        raise ConfigError(
            f"config key {key}.evaluation.stride: {stride} is not below the context of {context} "
            "tokens, so windows would skip or misplace tokens. Fix: a stride below the context "
            f"(e.g. {context // 2}), or null for half of it."
        )
    for dataset in train_sets(config, name):
        budget, where = train_budget(experiment, dataset)
        if budget < training["seq_len"]:
            raise ConfigError(
                f"config key {key}.{where}: {budget} tokens is less than one training sequence "
                f"(training.seq_len {training['seq_len']}). Fix: raise the budget or lower "
                f"{key}.training.seq_len."
            )
        task2vec = config["alignment"]["task2vec"]["batch_size"]
        if "task2vec" in experiment["metrics"] and budget < task2vec:
            raise ConfigError(
                f"config key {key}.{where}: {budget} tokens cannot hold one Task2Vec batch of "
                f"{task2vec} sequences. Fix: raise the budget or lower "
                "alignment.task2vec.batch_size."
            )
        if experiment["kind"] != "select":  # a selection's pool is checked by its own job
            _check_draws_fit(key, dataset, budget, experiment["seeds"], config)
    if experiment["eval_budget"] != ALL:
        for dataset in experiment["eval"]:
            for part, size, share in local_sizes(dataset, config):
                if experiment["eval_budget"] * share > size:
                    raise ConfigError(
                        f"config key {key}.eval_budget: {experiment['eval_budget']} tokens from "
                        f"{part!r}, but its file has {size:,} bytes (at most that many tokens). "
                        f"Fix: an eval_budget of at most {int(size / share):,}, or all."
                    )


def _check_draws_fit(key: str, dataset: str, budget: int, seeds: list[int], config: Config) -> None:
    """Seed k is the k-th disjoint draw: a local file too small for seed max+1 draws is refused."""
    draws = max(seeds) + 1
    for part, size, share in local_sizes(dataset, config):
        if draws * budget * share > size:
            fit = int(size // (budget * share))
            raise ConfigError(
                f"config key {key}.seeds: seed {max(seeds)} is draw {draws} of {budget} tokens "
                f"from {part!r}, but its file has {size:,} bytes (at most that many tokens), "
                f"room for {fit} disjoint draw(s). Fix: seeds from 0 to {max(fit - 1, 0)} (seed k "
                "is the k-th disjoint draw), or a smaller budget."
            )


def local_sizes(dataset: str, config: Config) -> Iterator[tuple[str, int, float]]:
    """Each local part of a dataset whose size as text is known: (part, bytes, share of it).

    A file of n bytes holds at most n tokens (every tokenizer here spends a byte or more per
    token), so a budget above that is certainly impossible; the subset job checks the rest. A
    template adds words of its own, so `pair` parts are skipped.
    """
    parts = subset_parts(config, dataset)
    total = sum(spec["weight"] for spec in parts.values())
    for part, spec in parts.items():
        entry = config["datasets"][part]
        if "local" not in entry or spec["format"] == "pair":
            continue
        path = find_installed(entry["local"]["path"])
        size = _uncompressed_bytes(path) if path is not None else None
        if size is not None:
            yield part, size, spec["weight"] / total


def _uncompressed_bytes(path: Path) -> int | None:
    """A local file's size as text: gzip's recorded size, none for Parquet (it is compressed)."""
    if path.suffix == ".parquet" or not path.is_file():
        return None
    with open(path, "rb") as handle:
        if handle.read(2) != b"\x1f\x8b":
            return path.stat().st_size
        handle.seek(-4, os.SEEK_END)  # ISIZE: the uncompressed size modulo 2^32
        size = int.from_bytes(handle.read(4), "little")
    return size if path.stat().st_size < 2**32 else None
