"""The pool a selection chooses from: its examples in order, each one's token count, and which
are held out (target or benchmark examples); a choice written back as per-dataset draws.

No example whose text is a target or benchmark example's (after folding case and whitespace) is
ever chosen, and a target sharing an example with the benchmark is refused: the benchmark would
no longer be held out. Memory holds a batch of texts and a few numbers per pool example, never
the pool's texts.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from dataalign.data.subsets import Draw, Part, count_tokens, example_batches
from dataalign.errors import DatasetError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Pool:
    """The examples a selection chooses from: one or more datasets' formatted examples, in order.

    A pool example's position is its index in this order; `scan_pool` records each one's
    dataset and row.
    """

    parts: tuple[Part, ...]

    def batches(self) -> Iterator[tuple[str, pd.DataFrame]]:
        """(dataset, examples) a batch of source rows at a time."""
        for part in self.parts:
            for examples in example_batches(part):
                yield part.name, examples

    def texts(self) -> Iterator[list[str]]:
        """The pool's texts, a batch at a time."""
        for _, examples in self.batches():
            yield examples["text"].tolist()


def read_texts(parts: Sequence[Part]) -> list[str]:
    """Every formatted example of a few (small) datasets: the target's, a benchmark's."""
    return [text for batch in Pool(tuple(parts)).texts() for text in batch]


def text_key(text: str) -> int:
    """An example's identity for overlap checks: a 64-bit hash of its text, case and spacing
    folded."""
    folded = " ".join(text.lower().split()).encode()
    return int.from_bytes(hashlib.blake2b(folded, digest_size=8).digest(), "little", signed=True)


def held_out_keys(
    target: str, target_texts: Sequence[str], benchmarks: Mapping[str, Sequence[str]]
) -> set[int]:
    """The keys of every target and benchmark example, which the pool must not supply.

    Refuses a target that shares an example with a benchmark (one line naming both and the fix).
    """
    target_keys = {text_key(t) for t in target_texts}
    held_out = set(target_keys)
    for name, texts in benchmarks.items():
        keys = {text_key(t) for t in texts}
        shared = len(keys & target_keys)
        if shared:
            raise DatasetError(
                f"the target '{target}' shares {shared} example(s) with the benchmark '{name}', "
                "so the benchmark would not be held out. Fix: take the target from another split "
                f"(or other rows: skip_rows/max_rows) than datasets.{name}."
            )
        held_out |= keys
    return held_out


def scan_pool(pool: Pool, tokenizer, held_out: set[int]) -> pd.DataFrame:
    """Per pool example: its `dataset`, `row`, `n_tokens` (the budget's unit) and whether it is
    `excluded` (a target or benchmark example)."""
    frames = []
    with tqdm(unit="ex", desc="scan pool") as bar:
        for name, examples in pool.batches():
            frames.append(
                pd.DataFrame(
                    {
                        "dataset": name,
                        "row": examples["row"].to_numpy(np.int64),
                        "n_tokens": count_tokens(tokenizer, examples["text"]),
                        "excluded": [text_key(t) in held_out for t in examples["text"]],
                    }
                )
            )
            bar.update(len(examples))
    if not frames:
        raise DatasetError("the selection pool has no non-empty examples.")
    index = pd.concat(frames, ignore_index=True)
    index["dataset"] = index["dataset"].astype("category")
    log.info(
        "pool: %d examples, %d tokens; %d excluded as target or benchmark examples",
        len(index),
        index["n_tokens"].sum(),
        index["excluded"].sum(),
    )
    return index


def chunked_texts(pool: Pool, size: int) -> Iterator[tuple[str, list[str]]]:
    """Consecutive chunks of `size` examples, never across two datasets (the last may be short)."""
    for part in pool.parts:
        held: list[str] = []
        for examples in example_batches(part):
            held += examples["text"].tolist()
            while len(held) >= size:
                yield part.name, held[:size]
                held = held[size:]
        if held:
            yield part.name, held


def chosen_draws(pool: Pool, index: pd.DataFrame, positions: np.ndarray) -> list[Draw]:
    """The chosen examples as per-dataset draws, which `subsets.write_draws` writes as a subset."""
    sizes = index["dataset"].astype(str).value_counts()
    n_tokens = index["n_tokens"].to_numpy()
    draws, start = [], 0
    for part in pool.parts:
        stop = start + int(sizes.get(part.name, 0))
        mine = positions[(positions >= start) & (positions < stop)]
        draws.append(Draw(part, mine - start, int(n_tokens[mine].sum())))
        start = stop
    return draws


def composition(index: pd.DataFrame, positions: np.ndarray) -> dict[str, float]:
    """Each pool dataset's share of the chosen tokens."""
    chosen = index.iloc[positions]
    tokens = chosen.groupby(chosen["dataset"].astype(str))["n_tokens"].sum()
    return (tokens / tokens.sum()).round(4).to_dict()
