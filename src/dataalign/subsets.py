"""Cut datasets into token-budget subsets: formatted examples, shuffled, taken until the budget.

A dataset is shuffled once (by its `shuffle_seed`) and cut greedily into consecutive draws that
each fit the budget; seed k is the k-th draw, so different seeds never share an example (the
paper's App. E compares C4 subsets 1-3). A mixture draws each part's share of the budget.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from dataalign.errors import DatasetError

log = logging.getLogger(__name__)
PLACEHOLDER = re.compile(r"\{([^{}]+)\}")
TOKENIZE_CHUNK = 1024


@dataclass(frozen=True)
class Part:
    """One dataset a subset draws from: its rows, how to format them, its share of the budget."""

    name: str
    rows: pd.DataFrame
    fields: Sequence[str]
    format: str = "text"
    template: str | None = None
    shuffle_seed: int = 0
    weight: float = 1.0


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
        pattern = template or "\n".join(f"{{{f}}}" for f in fields)
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
    ids = tokenizer(list(texts), add_special_tokens=False, verbose=False)["input_ids"]
    return np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids))


def draw_examples(
    name: str,
    examples: pd.DataFrame,
    tokenizer,
    budget: int | None,
    seed: int = 0,
    shuffle_seed: int = 0,
) -> pd.DataFrame:
    """The `seed`-th consecutive draw of shuffled `examples` holding at most `budget` tokens.

    The draw stops at the first example that would overflow the budget (it starts the next
    draw); examples longer than the whole budget are skipped. `budget=None` keeps everything.
    """
    if examples.empty:
        raise DatasetError(f"dataset '{name}' has no non-empty examples to draw from.")
    if budget is None and seed != 0:
        raise DatasetError(f"dataset '{name}': a subset of all examples has only seed 0.")
    order = np.random.default_rng(shuffle_seed).permutation(len(examples))
    texts = examples["text"].to_numpy()
    kept: list[tuple[int, int]] = []
    draw = total = skipped = 0
    with tqdm(total=budget, unit="tok", desc=f"subset {name}", leave=False) as bar:
        for start in range(0, len(order), TOKENIZE_CHUNK):
            chunk = order[start : start + TOKENIZE_CHUNK]
            for index, n in zip(chunk, count_tokens(tokenizer, texts[chunk]), strict=True):
                if budget is not None and n > budget:
                    skipped += 1
                    continue
                if budget is not None and total + n > budget:
                    if draw == seed:
                        return _kept_rows(name, examples, kept, budget, skipped)
                    draw, total = draw + 1, 0
                total += int(n)
                if draw == seed:
                    kept.append((int(index), int(n)))
                    bar.update(int(n))
    if budget is None or (draw == seed and total == budget):
        return _kept_rows(name, examples, kept, budget, skipped)
    have = total if draw == seed else 0
    earlier = f" after draws 0-{seed - 1}" if seed else ""
    raise DatasetError(
        f"dataset '{name}': draw {seed} needs {budget} tokens but only {have} remain{earlier} "
        f"(shortfall {budget - have} tokens; {skipped} examples longer than the budget skipped). "
        f"Fix: lower the budget, use fewer seeds, or raise datasets.{name}.max_rows."
    )


def _kept_rows(
    name: str, examples: pd.DataFrame, kept: list[tuple[int, int]], budget: int | None, skipped: int
) -> pd.DataFrame:
    index = [i for i, _ in kept]
    frame = pd.DataFrame(
        {
            "dataset": name,
            "row": examples["row"].to_numpy()[index].astype(np.int64),
            "text": examples["text"].to_numpy()[index],
            "n_tokens": np.array([n for _, n in kept], dtype=np.int64),
        }
    )
    log.info(
        "%s: %d examples, %d tokens (budget %s, %d over-long examples skipped)",
        name,
        len(frame),
        frame["n_tokens"].sum(),
        budget if budget is not None else "all",
        skipped,
    )
    return frame


def build_subset(
    parts: Sequence[Part], tokenizer, budget: int | None, seed: int = 0
) -> pd.DataFrame:
    """A subset (`dataset`, `row`, `text`, `n_tokens`) of one dataset or a weighted mixture.

    Each part gets floor(budget x weight / total weight) tokens; a mixture's draws are
    shuffled together by `seed` so its parts interleave.
    """
    total_weight = sum(p.weight for p in parts)
    frames = [
        draw_examples(
            part.name,
            format_examples(part.rows, part.fields, part.format, part.template),
            tokenizer,
            None if budget is None else int(budget * part.weight / total_weight),
            seed,
            part.shuffle_seed,
        )
        for part in parts
    ]
    subset = pd.concat(frames, ignore_index=True)
    if len(parts) > 1:
        subset = subset.iloc[np.random.default_rng(seed).permutation(len(subset))]
    return subset.reset_index(drop=True)
