"""Choose a pool's examples for a target task under a token budget.

The paper's advice, "select the most aligned data", as a registry of strategies that share one
interface (pool, target, budget, seed -> chosen examples). Selection runs in two steps, like
alignment's embed once / combine pairs: `score_pool` streams the pool a batch at a time and
gives every example one number (the costly, seed-free step); `choose` turns the numbers into
one seed's choice cheaply: the top examples until the budget, or a sample (DSIR's importance
resampling; a temperature). Memory holds a batch of texts and a few numbers per pool example,
never the pool's texts.

No example whose text is a target or benchmark example's (after folding case and whitespace) is
ever chosen, and a target sharing an example with the benchmark is refused: the benchmark would
no longer be held out.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
import warnings
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from dataalign.errors import ConfigError, DatasetError
from dataalign.subsets import Draw, Part, count_tokens, example_batches

log = logging.getLogger(__name__)
ZLIB_WINDOW = 32 * 1024  # a zlib dictionary is used up to its last 32 KiB


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
        len(index), index["n_tokens"].sum(), index["excluded"].sum(),
    )  # fmt: skip
    return index


# ---- scores: one number per pool example, higher is chosen first ----------------------------


def random_scores(pool: Pool, index: pd.DataFrame, target: Sequence[str], settings) -> np.ndarray:
    """Random selection needs no score: `choose` draws the order from the seed."""
    return np.zeros(len(index))


def gzip_scores(
    pool: Pool, index: pd.DataFrame, target: Sequence[str], settings, workers: int = 2
) -> np.ndarray:
    """The share of an example's compressed size that the target explains: 1 - C(x | T) / C(x).

    C(x | T) compresses x with the target's text as zlib's preset dictionary (its last 32 KiB,
    zlib's window), so each example costs two compressions instead of one per target example;
    zlib releases the GIL, so batches run on `workers` threads.
    """
    dictionary = "\n".join(target).encode()[-ZLIB_WINDOW:]
    level = settings["level"]

    def explained(texts: list[str]) -> list[float]:
        primed, shares = zlib.compressobj(level, zdict=dictionary), []
        for text in texts:
            raw = text.encode()
            own = len(zlib.compress(raw, level))
            packer = primed.copy()  # the dictionary loaded once: 2.4x faster than per example
            given = len(packer.compress(raw) + packer.flush())
            shares.append(1.0 - given / own)
        return shares

    scores = []
    with ThreadPoolExecutor(workers) as threads:
        for texts in tqdm(pool.texts(), desc="gzip scores", unit="batch"):
            chunks = [texts[i::workers] for i in range(workers)]
            parts = list(threads.map(explained, chunks))
            batch = np.empty(len(texts))
            for i, part in enumerate(parts):
                batch[i::workers] = part
            scores.append(batch)
    return np.concatenate(scores)


def sbert_scores(pool: Pool, index: pd.DataFrame, target: Sequence[str], settings) -> np.ndarray:
    """Mean cosine similarity of each example with the target's examples (the SBERT metric's
    pair mean: an example's unit embedding dotted with the target's mean embedding)."""
    from dataalign.align.metrics import sentence_model
    from dataalign.align.sbert import embed_sentences

    model = sentence_model(settings["model"])
    centre = embed_sentences(model, target, settings["batch_size"]).mean(axis=0)
    return np.concatenate(
        [embed_sentences(model, texts, settings["batch_size"]) @ centre for texts in pool.texts()]
    ).astype(np.float64)


def task2vec_scores(pool: Pool, index: pd.DataFrame, target: Sequence[str], settings) -> np.ndarray:
    """Task2Vec alignment (1 - mean distance to the target's batch embeddings) of each chunk of
    `chunk` consecutive examples of one dataset, given to every example of the chunk."""
    from dataalign.align.metrics import probe_model
    from dataalign.align.task2vec import Task2VecOptions, distance_matrix, embed_task2vec

    model, tokenizer = probe_model(settings["probe"])
    options, chunk = settings["options"], settings["chunk"]
    target_options = Task2VecOptions(**{**options, "batch_size": chunk})
    reference = embed_task2vec(model, tokenizer, list(target), target_options, "target")
    scores = []
    for name, texts in tqdm(chunked_texts(pool, chunk), desc="task2vec chunks", unit="chunk"):
        single = Task2VecOptions(**{**options, "batch_size": len(texts), "batches": 1})
        vector = embed_task2vec(model, tokenizer, texts, single, name)
        scores.append(np.full(len(texts), 1.0 - distance_matrix(vector, reference).mean()))
    return np.concatenate(scores)


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


def dsir_scores(
    pool: Pool, index: pd.DataFrame, target: Sequence[str], settings, workers: int = 2
) -> np.ndarray:
    """DSIR's log importance weights from `data-selection`'s HashedNgramDSIR (its featuriser, its
    estimator); -inf for the examples its length filter drops.

    One raw "dataset" per pool part keeps DSIR's order the pool's (no virtual shards).
    """
    from data_selection import HashedNgramDSIR
    from nltk.tokenize import WordPunctTokenizer

    loader = PoolLoader(pool, tuple(target))
    names = [part.name for part in pool.parts]
    with tempfile.TemporaryDirectory(prefix="dsir-") as cache:
        dsir = HashedNgramDSIR(
            raw_datasets=names,
            target_datasets=["target"],
            cache_dir=cache,
            raw_load_dataset_fn=loader,
            raw_parse_example_fn=None,
            target_load_dataset_fn=loader,
            target_parse_example_fn=None,
            num_proc=max(1, min(workers, len(names))),
            ngrams=settings["n"],
            num_buckets=settings["buckets"],
            min_example_length=settings["min_example_length"],
        )
        # DSIR's own tokenizer, a fresh copy: nltk compiles its pattern on first use, and a
        # compiled pattern (nltk's regex with a timeout) fails to unpickle in DSIR's workers.
        dsir.tokenizer = WordPunctTokenizer().tokenize
        dsir.fit_importance_estimator(num_tokens_to_fit="all")
        dsir.compute_importance_weights()
        shards = range(len(dsir._get_virtually_sharded_datasets(names)))
        weights = np.concatenate(
            [np.load(f"{cache}/log_importance_weights/{i}.npy") for i in shards]
        )
        lengths = np.concatenate([np.load(f"{cache}/perexample_metadata/{i}.npy") for i in shards])
        kept = dsir.perexample_metadata_filter(lengths)
    log.info("dsir: %d of %d examples pass its length filter", kept.sum(), len(kept))
    return np.where(kept, weights, -np.inf)


@dataclass(frozen=True)
class PoolLoader:
    """DSIR's `load_dataset_fn`: a pool part's texts by name, or the target's (picklable, so
    DSIR's worker processes can call it)."""

    pool: Pool
    target: tuple[str, ...]

    def __call__(self, name: str) -> Iterator[str]:
        if name == "target":
            yield from self.target
            return
        part = next(p for p in self.pool.parts if p.name == name)
        for examples in example_batches(part):
            yield from examples["text"]


def perplexity_correlation_scores(
    pool: Pool, index: pd.DataFrame, target: Sequence[str], settings
) -> np.ndarray:
    """`perplexity-correlations`' estimate of each example's weight: how the panel's bits per
    byte on it track their bits per byte on the target (its estimator, e.g. Spearman).

    Panel members score the pool and the target in their own jobs (rule score_panel); the
    target's loss plays the benchmark error the library expects. The estimators used depend on
    its ranks only, so it enters as ranks scaled into (0, 1), the range the library checks.
    """
    from perplexity_correlations import estimation

    bits, on_target = panel_bits_per_byte(index, settings)
    y = (pd.Series(on_target).rank().to_numpy() / (len(on_target) + 1)).astype(np.float64)
    return getattr(estimation, settings["estimator"])(bits, y)


def panel_bits_per_byte(index: pd.DataFrame, settings) -> tuple[np.ndarray, np.ndarray]:
    """Members x pool examples bits per byte, and each member's bits per byte on the target."""
    requests = settings["requests"]  # dataset -> request digest
    keys = pd.MultiIndex.from_arrays([index["dataset"].astype(str), index["row"]])
    rows, on_target = [], []
    for model, path in settings["scores"].items():
        scores = pd.read_parquet(
            path, columns=["dataset", "request", "row", "loglik", "n_answer_bytes"]
        )
        wanted = scores[scores["request"].isin(set(requests.values()))]
        bits = -wanted["loglik"] / (np.log(2) * wanted["n_answer_bytes"])
        by_example = pd.Series(
            bits.to_numpy(), pd.MultiIndex.from_frame(wanted[["dataset", "row"]])
        )
        target = wanted[wanted["dataset"] == settings["target"]]
        on_target.append(-target["loglik"].sum() / (np.log(2) * target["n_answer_bytes"].sum()))
        row = by_example.reindex(keys).to_numpy()
        if np.isnan(row).any():
            raise DatasetError(
                f"panel member '{model}' has no score for {int(np.isnan(row).sum())} pool "
                "examples; its scores are stale. Fix: rerun its score_panel job."
            )
        rows.append(row)
    return np.stack(rows), np.array(on_target)


Scorer = Callable[[Pool, pd.DataFrame, Sequence[str], Mapping[str, Any]], np.ndarray]
SCORERS: dict[str, Scorer] = {
    "random": random_scores,
    "dsir": dsir_scores,
    "gzip": gzip_scores,
    "sbert": sbert_scores,
    "task2vec": task2vec_scores,
    "perplexity_correlations": perplexity_correlation_scores,
}


def score_pool(
    method: str, pool: Pool, index: pd.DataFrame, target: Sequence[str], settings: Mapping[str, Any]
) -> np.ndarray:
    """Every pool example's score under `method` (one of SCORERS), in pool order."""
    if method not in SCORERS:
        raise ConfigError(f"unknown selection method {method!r}; use one of {list(SCORERS)}.")
    scores = np.asarray(SCORERS[method](pool, index, target, settings), dtype=np.float64)
    if len(scores) != len(index):
        raise DatasetError(f"{method}: {len(scores)} scores for {len(index)} pool examples.")
    return scores


# ---- choose: scores -> one seed's examples within the budget --------------------------------


def choose(
    index: pd.DataFrame,
    scores: np.ndarray,
    method: str,
    budget: int,
    seed: int,
    temperature: float | None = None,
) -> np.ndarray:
    """Positions (sorted) of the examples one seed chooses, at most `budget` tokens in all.

    Examples are taken in priority order until the next would overflow the budget (so a choice
    falls short by less than one example). Priority: random, a uniform draw; dsir, DSIR's
    Gumbel-perturbed log weights (its importance resampling without replacement, noise drawn as
    the library draws it); a ranking method, its score, or with a `temperature` T a sample
    without replacement with probability proportional to exp(z / T), z the score standardised
    over the pool; perplexity_correlations, the library's linear projection onto a sampling
    distribution with each example's share capped at its tokens / budget.
    """
    n_tokens = index["n_tokens"].to_numpy()
    eligible = ~index["excluded"].to_numpy() & (n_tokens <= budget) & np.isfinite(scores)
    if n_tokens[eligible].sum() < budget:
        raise DatasetError(
            f"the pool holds {n_tokens[eligible].sum()} eligible tokens, fewer than the budget "
            f"{budget}. Fix: lower the budget or add datasets (or max_rows) to the pool."
        )
    if method == "perplexity_correlations":
        return projected_choice(scores, n_tokens, eligible, budget)
    if method == "random":
        priority = np.random.default_rng(seed).random(len(scores))
    elif method == "dsir":
        kept = np.isfinite(scores)
        priority = np.full(len(scores), -np.inf)
        priority[kept] = scores[kept] + np.random.RandomState(seed).gumbel(size=int(kept.sum()))
    elif temperature:
        z = (scores - scores[eligible].mean()) / (scores[eligible].std() or 1.0)
        priority = z / temperature + np.random.default_rng(seed).gumbel(size=len(scores))
    else:
        priority = scores
    order = np.flatnonzero(eligible)
    order = order[np.argsort(-priority[order], kind="stable")]
    taken = np.searchsorted(np.cumsum(n_tokens[order]), budget, side="right")
    return np.sort(order[:taken])


def projected_choice(
    scores: np.ndarray, n_tokens: np.ndarray, eligible: np.ndarray, budget: int
) -> np.ndarray:
    """The examples `perplexity_correlations.projection.linear` gives their full cap: the top
    estimates until the budget (the one it gives a fraction would overflow it)."""
    from perplexity_correlations.projection import linear

    candidates = np.flatnonzero(eligible)
    tau = n_tokens[candidates] / budget
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        weights = linear(scores[candidates], tau)
    return np.sort(candidates[weights >= tau.astype(np.float32)])


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
