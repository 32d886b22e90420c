"""Datasets: where their rows come from, the fields their format needs, and budgets, windows and
seeds that the files certainly cannot hold."""

from __future__ import annotations

import functools
import gzip
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from dataalign.data.hub import hub_cached, hub_offline
from dataalign.data.local_files import is_gzip, suffix_format
from dataalign.data.subsets import pair_template
from dataalign.errors import ConfigError
from dataalign.io import find_installed
from dataalign.plan.lookup import (
    SOURCES,
    Config,
    subset_parts,
    train_budget,
    train_sets,
    used_datasets,
)
from dataalign.plan.paths import ALL, ROWS, fill
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
    if _text_bytes(found)[0] == 0:
        raise ConfigError(
            f"config key datasets.{name}.local.path: {path!r} is empty (0 bytes), so the "
            "dataset has no rows. Fix: restore the file with its rows (a copy or download cut "
            "short leaves it empty), or point the path at the file that holds them."
        )


def offline_warnings(config: Config, root: str | Path = ".") -> list[str]:
    """With Hub downloads forbidden, the datasets only the Hub could give rows (none downloaded
    yet, no cache): their download jobs will fail. A warning, not a refusal, since the targets
    run may not need them; nothing is probed online.
    """
    offline = hub_offline()
    if offline is None:
        return []
    missing = [
        name
        for name in used_datasets(config)
        if next((k for k in SOURCES if k in config["datasets"][name]), None) == "hub"
        and not (Path(root) / fill(ROWS, ds=name)).is_file()
        and not hub_cached(config["datasets"][name]["hub"]["id"])
    ]
    if not missing:
        return []
    named = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
    return [
        f"{offline} is set, but these Hub datasets have neither rows ({fill(ROWS, ds=missing[0])}"
        f") nor a Hugging Face cache here, so the jobs that download them will fail: {named}. "
        "Fix: give each a local file, which wins over hub: "
        f"(datasets.{missing[0]}.local: {{path: data/{missing[0]}.jsonl}}), or unset {offline} "
        "to download them."
    ]


def check_sizes(name: str, experiment: Config, config: Config) -> None:
    """Budgets, windows and seeds that cannot work are rejected before any job runs."""
    key = f"experiments.{name}"
    if "training" in experiment:  # an align experiment trains and evaluates nothing
        check_training_sizes(name, experiment, config)
    for dataset in train_sets(config, name):
        budget, where = train_budget(experiment, dataset)
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


def check_training_sizes(name: str, experiment: Config, config: Config) -> None:
    """An evaluation window that skips tokens, a budget below one training sequence."""
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
    """Each local part of a dataset whose size as text is known: (part, tokens at most, share).

    A file of n bytes holds at most n tokens (every tokenizer here spends a byte or more per
    token), so a budget above that is certainly impossible; the subset job checks the rest. A
    `pair` example adds its template's own text to the fields' values, so a pair part is bounded
    by its bytes plus one template's literal bytes per row, and a row is at most a line (a JSON
    or CSV value's escapes only shrink when read; rows missing a field are dropped). Parts whose
    rows cannot be counted from their lines (Parquet, a JSON array) are skipped.
    """
    parts = subset_parts(config, dataset)
    total = sum(spec["weight"] for spec in parts.values())
    for part, spec in parts.items():
        entry = config["datasets"][part]
        path = find_installed(entry["local"]["path"]) if "local" in entry else None
        if path is None or not path.is_file():
            continue
        fmt, share = entry["local"]["format"] or suffix_format(path), spec["weight"] / total
        if spec["format"] == "pair" and fmt in ("jsonl", "csv"):
            literal = PLACEHOLDER.sub("", pair_template(spec["fields"], spec["template"]))
            size, lines = _text_bytes(path, count_lines=True)
            yield part, size + lines * len(literal.encode()), share
        elif spec["format"] != "pair" and fmt != "parquet":
            size = _text_bytes(path)[0]
            if size is not None:
                yield part, size, share


def _text_bytes(path: Path, count_lines: bool = False) -> tuple[int | None, int]:
    """A local file's size as text (gzip's recorded size, none past 4 GiB where it wraps) and,
    when asked, at least its lines (read through once per parse)."""
    if count_lines:
        stat = path.stat()
        return _read_through(path, (stat.st_size, stat.st_mtime_ns))
    if not is_gzip(path):
        return path.stat().st_size, 0
    with open(path, "rb") as handle:
        handle.seek(-4, os.SEEK_END)  # ISIZE: the uncompressed size modulo 2^32
        size = int.from_bytes(handle.read(4), "little")
    return (size if path.stat().st_size < 2**32 else None), 0


@functools.cache
def _read_through(path: Path, stamp: tuple[int, int]) -> tuple[int, int]:
    """Bytes as text and line breaks + 1 of a file as it is now (`stamp`, its size and mtime,
    keys the cache). A carriage return counts too, as CSV readers end a row there."""
    size, breaks = 0, 1
    with (gzip.open if is_gzip(path) else open)(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            size, breaks = size + len(chunk), breaks + chunk.count(b"\n") + chunk.count(b"\r")
    return size, breaks
