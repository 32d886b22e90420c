"""The pool a selection chooses from: its examples in order, each one's token count, and which
are held out (target or benchmark examples); a choice written back as per-dataset draws.

No example whose text is a target or benchmark example's (after folding case and whitespace) is
ever chosen, and a target sharing an example with the benchmark is refused: the benchmark would
no longer be held out. A pool is scored in shards (consecutive runs of its rows, one job each);
memory holds a batch of texts and a few numbers per example of one shard, never the pool's texts.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from dataalign.data import subsets
from dataalign.data.subsets import Draw, Part, count_tokens, example_batches
from dataalign.errors import DatasetError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Pool:
    """The examples a selection chooses from: one or more datasets' formatted examples, in order.

    A pool example's position is its index in this order; `scan_pool` records each one's
    part (its index in `parts`) and row. A shard keeps every part, each reading a range of its
    rows (empty for the parts outside the shard), so part indexes mean the same in every shard.
    """

    parts: tuple[Part, ...]

    def shard(self, index: int, count: int) -> Pool:
        """The `index`-th of `count` shards: consecutive whole batches of ROWS_PER_BATCH rows,
        split as evenly as the batches allow (a shard is empty when there are fewer batches
        than shards). Their batches, and so their examples, are the whole pool's in order."""
        sizes = [part.n_rows() for part in self.parts]
        size = subsets.ROWS_PER_BATCH
        batches = [-(-rows // size) for rows in sizes]
        total = sum(batches)
        low, high = index * total // count, (index + 1) * total // count
        parts, offset = [], 0
        for part, rows, n in zip(self.parts, sizes, batches, strict=True):
            start = min(max(low - offset, 0), n) * size
            stop = min(max(high - offset, 0), n) * size
            parts.append(replace(part, start=min(start, rows), stop=min(stop, rows)))
            offset += n
        return Pool(tuple(parts))

    @property
    def names(self) -> list[str]:
        return [part.name for part in self.parts]

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
    """Per pool example: its `part` (index in `pool.parts`), `row`, `n_tokens` (the budget's
    unit) and whether it is `excluded` (a target or benchmark example): 15 bytes each."""
    frames = []
    with tqdm(unit="ex", desc="scan pool") as bar:
        for code, part in enumerate(pool.parts):
            for examples in example_batches(part):
                frames.append(
                    pd.DataFrame(
                        {
                            "part": np.full(len(examples), code, np.uint16),
                            "row": examples["row"].to_numpy(np.int64),
                            "n_tokens": count_tokens(tokenizer, examples["text"]).astype(np.int32),
                            "excluded": [text_key(t) in held_out for t in examples["text"]],
                        }
                    )
                )
                bar.update(len(examples))
    columns = {"part": np.uint16, "row": np.int64, "n_tokens": np.int32, "excluded": bool}
    index = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(columns))
    index = index.astype(columns)
    log.info(
        "pool shard: %d examples, %d tokens; %d excluded as target or benchmark examples",
        len(index),
        index["n_tokens"].sum(),
        index["excluded"].sum(),
    )
    return index


def chunked_texts(pool: Pool, size: int) -> Iterator[tuple[str, list[str]]]:
    """Consecutive chunks of `size` examples within one batch of source rows (so a shard's chunks
    are the whole pool's; the last of a batch may be short)."""
    for name, examples in pool.batches():
        texts = examples["text"].tolist()
        for start in range(0, len(texts), size):
            yield name, texts[start : start + size]


def chosen_draws(
    pool: Pool, part_sizes: np.ndarray, positions: np.ndarray, n_tokens: np.ndarray
) -> list[Draw]:
    """The chosen examples (sorted pool `positions`, each one's `n_tokens`) as per-dataset
    draws, which `subsets.write_draws` writes as a subset; `part_sizes`: each part's examples."""
    draws, start = [], 0
    part_sizes = np.pad(part_sizes, (0, len(pool.parts) - len(part_sizes)))  # empty last parts
    for part, size in zip(pool.parts, part_sizes, strict=True):
        mine = (positions >= start) & (positions < start + size)
        draws.append(Draw(part, positions[mine] - start, int(n_tokens[mine].sum())))
        start += size
    return draws


def composition(names: Sequence[str], parts: np.ndarray, n_tokens: np.ndarray) -> dict[str, float]:
    """Each pool dataset's share of the chosen tokens (`parts`, `n_tokens`: per chosen example)."""
    tokens = np.bincount(parts, weights=n_tokens, minlength=len(names))
    shares = tokens / max(tokens.sum(), 1)
    return {
        name: round(float(share), 4) for name, share in zip(names, shares, strict=True) if share > 0
    }
