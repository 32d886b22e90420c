"""Cut datasets into token-budget subsets: formatted examples, shuffled, taken until the budget.

A dataset is shuffled once (by its `shuffle_seed`) and cut greedily into consecutive draws that
each fit the budget; seed k is the k-th draw, so different seeds never share an example (the
paper's App. E compares C4 subsets 1-3). A mixture draws each part's share of the budget.

Memory is bounded by a batch of rows, not the corpus: a first pass counts every example's tokens,
the draw is chosen on those counts alone, and a second pass streams the chosen examples (in file
order; training shuffles) to Parquet and their token ids to a memory-mappable .npy. The second
pass tokenises the chosen examples again rather than hold every example's ids from the first.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm.auto import tqdm

from dataalign.errors import DamagedFileError, DatasetError
from dataalign.io import atomic_path, load_tokens, parquet_batches, parquet_rows, reading
from dataalign.templates import PLACEHOLDER

log = logging.getLogger(__name__)
ROWS_PER_BATCH = 2048
SHORTFALL_WARNING = 0.05  # a draw this far below its budget says so in the job's log
# Parquet metadata of a subset: the length of the token file written with it.
TOKEN_IDS = "dataalign.token_ids"
SUBSET_SCHEMA = pa.schema(
    [("dataset", pa.string()), ("row", pa.int64()), ("text", pa.string()), ("n_tokens", pa.int64())]
)


@dataclass(frozen=True)
class Part:
    """One dataset a subset draws from: its rows (a table, or a Parquet file read a batch at a
    time), how to format them, and its share of the budget. `start`/`stop` read a range of its
    rows only (a shard of a selection pool; `start` a multiple of ROWS_PER_BATCH)."""

    name: str
    rows: pd.DataFrame | str | os.PathLike
    fields: Sequence[str]
    format: str = "text"
    template: str | None = None
    shuffle_seed: int = 0
    weight: float = 1.0
    start: int = 0
    stop: int | None = None

    def n_rows(self) -> int:
        """Source rows in the whole dataset (a Parquet file's from its footer)."""
        return len(self.rows) if isinstance(self.rows, pd.DataFrame) else parquet_rows(self.rows)


def pair_template(fields: Sequence[str], template: str | None = None) -> str:
    """The pattern a `pair` example fills: `template`, or the fields on separate lines."""
    return template or "\n".join(f"{{{f}}}" for f in fields)


def format_examples(
    rows: pd.DataFrame, fields: Sequence[str], fmt: str, template: str | None = None
) -> pd.DataFrame:
    """Examples (`row`, `text`) from normalised rows; whitespace-only examples are dropped.

    `text` takes one field; `pair` fills `template` ({field} placeholders, default: the two
    fields on separate lines); `split` makes each field its own example (the paper's AF-split).
    """
    if fmt == "text":
        examples = pd.DataFrame({"row": rows["row"], "text": rows[fields[0]]})
    elif fmt == "pair":
        pattern = pair_template(fields, template)
        texts = [
            PLACEHOLDER.sub(lambda m, r=record: r[m.group(1)], pattern)
            for record in rows[list(fields)].to_dict("records")
        ]
        examples = pd.DataFrame({"row": rows["row"], "text": texts})
    elif fmt == "split":
        melted = rows.melt(
            id_vars="row", value_vars=list(fields), var_name="field", value_name="text"
        )
        order = melted["field"].map({f: i for i, f in enumerate(fields)})
        melted = melted.assign(order=order).sort_values(["row", "order"], kind="stable")
        examples = melted[["row", "text"]]
    else:
        raise ValueError(f"unknown format {fmt!r}; use text, pair or split")
    return examples[examples["text"].str.strip() != ""].reset_index(drop=True)


def count_tokens(tokenizer, texts: Sequence[str]) -> np.ndarray:
    """Content tokens per text (no special tokens), the unit every budget is counted in."""
    if len(texts) == 0:
        return np.zeros(0, np.int64)
    ids = tokenizer(list(texts), add_special_tokens=False, verbose=False)["input_ids"]
    return np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids))


def example_batches(part: Part) -> Iterator[pd.DataFrame]:
    """A part's formatted examples, `ROWS_PER_BATCH` source rows at a time: batches cut at
    multiples of ROWS_PER_BATCH rows, the same whichever range of rows is read."""
    if isinstance(part.rows, pd.DataFrame):
        stop = len(part.rows) if part.stop is None else part.stop
        batches = (
            part.rows.iloc[i : min(i + ROWS_PER_BATCH, stop)]
            for i in range(part.start, stop, ROWS_PER_BATCH)
        )
    else:
        columns = ["row", *part.fields]
        batches = (
            b.to_pandas()
            for b in parquet_batches(part.rows, ROWS_PER_BATCH, columns, part.start, part.stop)
        )
    for rows in batches:
        yield format_examples(rows, part.fields, part.format, part.template)


def draw_positions(
    name: str, n_tokens: np.ndarray, budget: int | None, seed: int = 0, shuffle_seed: int = 0
) -> np.ndarray:
    """Positions of the examples in the `seed`-th consecutive draw of a shuffle, in file order.

    The draw stops at the first example that would overflow the budget (it starts the next
    draw); examples longer than the whole budget are skipped. `budget=None` keeps everything.
    """
    if len(n_tokens) == 0:
        raise DatasetError(
            f"dataset '{name}' has no non-empty examples to draw from: every value of its "
            f"fields is blank (empty or whitespace). Fix: name the columns that hold the text in "
            f"datasets.{name}.fields, or repair the source if its text was lost."
        )
    if budget is None:
        if seed != 0:
            raise DatasetError(f"dataset '{name}': a subset of all examples has only seed 0.")
        return np.arange(len(n_tokens))
    order = np.random.default_rng(shuffle_seed).permutation(len(n_tokens))
    fits = n_tokens[order] <= budget
    skipped, order = int((~fits).sum()), order[fits]
    draw = total = 0
    start = None
    for i, n in enumerate(n_tokens[order].tolist()):
        if total + n > budget:
            if draw == seed:
                return np.sort(order[start:i])
            draw, total = draw + 1, 0
        if draw == seed and start is None:
            start = i
        total += n
    if draw == seed and total == budget:
        return np.sort(order[start:])
    have = total if draw == seed else 0
    earlier = f" after draws 0-{seed - 1}" if seed else ""
    raise DatasetError(
        f"dataset '{name}': draw {seed} needs {budget} tokens but only {have} remain{earlier} "
        f"(shortfall {budget - have} tokens; {skipped} examples longer than the budget skipped). "
        f"Fix: lower the budget, use fewer seeds, or raise datasets.{name}.max_rows."
    )


@dataclass(frozen=True)
class Draw:
    """The examples one part contributes to a subset: positions among its examples, and size."""

    part: Part
    positions: np.ndarray
    n_tokens: int


def plan_subset(parts: Sequence[Part], tokenizer, budget: int | None, seed: int = 0) -> list[Draw]:
    """Pass 1: count every example's tokens and choose each part's draw from the counts alone.

    Each part gets floor(budget x weight / total weight) tokens.
    """
    total_weight = sum(p.weight for p in parts)
    draws = []
    for part in parts:
        counts = []
        with tqdm(unit="ex", desc=f"count {part.name}", leave=False) as bar:
            for examples in example_batches(part):
                counts.append(count_tokens(tokenizer, examples["text"]))
                bar.update(len(examples))
        n_tokens = np.concatenate(counts) if counts else np.zeros(0, np.int64)
        share = None if budget is None else int(budget * part.weight / total_weight)
        positions = draw_positions(part.name, n_tokens, share, seed, part.shuffle_seed)
        draws.append(Draw(part, positions, int(n_tokens[positions].sum())))
        if share and draws[-1].n_tokens < (1 - SHORTFALL_WARNING) * share:
            log.warning(
                "%s: draw %d holds %d of its %d tokens (%.0f%% short): the next example in the "
                "shuffle did not fit. Its model is trained on fewer tokens than the others; a "
                "larger budget or shorter examples (e.g. format: split) make draws fuller.",
                part.name,
                seed,
                draws[-1].n_tokens,
                share,
                100 * (1 - draws[-1].n_tokens / share),
            )
        log.info(
            "%s: %d examples, %d tokens (budget %s; %d examples in the source)",
            part.name,
            len(positions),
            draws[-1].n_tokens,
            share or "all",
            len(n_tokens),
        )
    return draws


def subset_batches(draws: Sequence[Draw], tokenizer) -> Iterator[tuple[pd.DataFrame, list]]:
    """Pass 2: the chosen examples (`dataset`, `row`, `text`, `n_tokens`) with their token ids,
    a batch of source rows at a time."""
    for draw in draws:
        chosen, offset = draw.positions, 0
        for examples in example_batches(draw.part):
            lo, hi = np.searchsorted(chosen, [offset, offset + len(examples)])
            kept = examples.iloc[chosen[lo:hi] - offset]
            offset += len(examples)
            if kept.empty:
                continue
            ids = tokenizer(kept["text"].tolist(), add_special_tokens=False, verbose=False)
            ids = ids["input_ids"]
            frame = pd.DataFrame(
                {
                    "dataset": draw.part.name,
                    "row": kept["row"].to_numpy(np.int64),
                    "text": kept["text"].to_numpy(),
                    "n_tokens": np.fromiter(map(len, ids), np.int64, len(ids)),
                }
            )
            yield frame, ids


def build_subset(
    parts: Sequence[Part], tokenizer, budget: int | None, seed: int = 0
) -> pd.DataFrame:
    """A subset (`dataset`, `row`, `text`, `n_tokens`) of one dataset or a weighted mixture."""
    draws = plan_subset(parts, tokenizer, budget, seed)
    frames = [frame for frame, _ in subset_batches(draws, tokenizer)]
    return pd.concat(frames, ignore_index=True)


def draw_examples(
    name: str,
    examples: pd.DataFrame,
    tokenizer,
    budget: int | None,
    seed: int = 0,
    shuffle_seed: int = 0,
) -> pd.DataFrame:
    """The `seed`-th draw of already formatted `examples` holding at most `budget` tokens."""
    n_tokens = count_tokens(tokenizer, examples["text"])
    positions = draw_positions(name, n_tokens, budget, seed, shuffle_seed)
    return pd.DataFrame(
        {
            "dataset": name,
            "row": examples["row"].to_numpy()[positions].astype(np.int64),
            "text": examples["text"].to_numpy()[positions],
            "n_tokens": n_tokens[positions],
        }
    )


def write_subset(
    parts: Sequence[Part],
    tokenizer,
    budget: int | None,
    seed: int,
    path: str | os.PathLike,
    tokens_path: str | os.PathLike,
) -> None:
    """Write a subset to Parquet and its token ids (EOS after each example) to a .npy memmap."""
    write_draws(plan_subset(parts, tokenizer, budget, seed), tokenizer, path, tokens_path)


def write_draws(
    draws: Sequence[Draw], tokenizer, path: str | os.PathLike, tokens_path: str | os.PathLike
) -> None:
    """Write chosen examples as a subset (Parquet + token ids): every subset, drawn or selected.

    Both files are written a batch at a time and appear only when complete.
    """
    if tokenizer.eos_token_id is None:
        raise DatasetError("the tokenizer has no EOS token to separate packed examples.")
    length = sum(d.n_tokens + len(d.positions) for d in draws)
    dtype = np.uint16 if len(tokenizer) <= np.iinfo(np.uint16).max else np.uint32
    schema = SUBSET_SCHEMA.with_metadata({TOKEN_IDS: str(length)})
    with atomic_path(path) as table_tmp, atomic_path(tokens_path) as ids_tmp:
        tokens = np.lib.format.open_memmap(ids_tmp, mode="w+", dtype=dtype, shape=(length,))
        at = 0
        with pq.ParquetWriter(table_tmp, schema, compression="zstd") as writer:
            for frame, ids in subset_batches(draws, tokenizer):
                writer.write_table(pa.Table.from_pandas(frame, SUBSET_SCHEMA, preserve_index=False))
                for encoded in ids:
                    tokens[at : at + len(encoded)] = encoded
                    tokens[at + len(encoded)] = tokenizer.eos_token_id
                    at += len(encoded) + 1
        tokens.flush()
        del tokens
        if at != length:  # the tokenizer gave different counts in the two passes
            raise DatasetError(f"subset token count changed between passes ({at} != {length}).")


def subset_tokens(tokens_path: str | os.PathLike, subset_path: str | os.PathLike) -> np.ndarray:
    """A subset's token ids (memory-mapped), checked against the count its Parquet file recorded
    when the two were written together: a token file copied or rebuilt alone is refused."""
    tokens = load_tokens(tokens_path)
    with reading(subset_path):
        recorded = (pq.read_schema(subset_path).metadata or {}).get(TOKEN_IDS.encode())
    if recorded is not None and len(tokens) != int(recorded):
        raise DamagedFileError(
            f"{tokens_path} holds {len(tokens)} token ids but {subset_path} was written with "
            f"{int(recorded)}: the two come from different runs (one was replaced or copied "
            "alone). Fix: delete both and rerun; Snakemake rebuilds them and what depends on them."
        )
    return tokens
