"""GZIP alignment: 1 - normalised compression distance, averaged over example pairs.

Each example is compressed once when its dataset is embedded; a pair then costs one compression
(of the concatenation), and pairs run on a thread pool (zlib releases the GIL).
"""

from __future__ import annotations

import gzip
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from dataalign.align.stats import RESAMPLES, Alignment, all_pairs, pair_mean, swap_for_symmetry
from dataalign.plugins import defaults_of, option

# The GZIP metric's options under `alignment.gzip` (the plug-in adds `max_examples`), and these
# functions' defaults: written once.
OPTIONS = {
    "level": option(9, "gzip compression level", type="integer", minimum=1, maximum=9),
    "max_pairs": option(
        10000,
        "example pairs sampled per dataset pair; all pairs when fewer",
        type="integer",
        minimum=1,
    ),
    "seed": option(
        0,
        "seed of the pair sample, the bootstrap and the example sample",
        type="integer",
        minimum=0,
    ),
}
DEFAULTS = defaults_of(OPTIONS)


def compressed_size(text: str, level: int = DEFAULTS["level"]) -> int:
    """Bytes of `text` gzip-compressed at `level`, header included (as the reference)."""
    return len(gzip.compress(text.encode("utf-8"), compresslevel=level, mtime=0))


def compressed_sizes(texts: Sequence[str], level: int = DEFAULTS["level"]) -> np.ndarray:
    """The GZIP 'embedding' of a dataset: each example's compressed size, computed once."""
    return np.array([compressed_size(text, level) for text in texts], dtype=np.int64)


def ncd(cx: int, cy: int, cxy: int) -> float:
    """Normalised compression distance (C(xy) - min(Cx, Cy)) / max(Cx, Cy)."""
    return (cxy - min(cx, cy)) / max(cx, cy)


def gzip_alignment(
    a_texts: Sequence[str],
    a_sizes: np.ndarray,
    b_texts: Sequence[str],
    b_sizes: np.ndarray,
    max_pairs: int = DEFAULTS["max_pairs"],
    seed: int = DEFAULTS["seed"],
    level: int = DEFAULTS["level"],
    workers: int = 2,
    resamples: int = RESAMPLES,
) -> Alignment:
    """Mean of 1 - NCD over all example pairs, or over `max_pairs` pairs sampled by `seed`.

    The SE and CI resample both datasets' examples (`dataalign.align.stats.pair_mean`); the
    train SE only a's, b held fixed.
    Symmetric by construction: the datasets are put in a canonical order before pairs are
    sampled, and each pair is concatenated in lexicographic order (the reference joins
    train + eval; the order changes C(xy) by a few bytes at most).
    """
    swapped = swap_for_symmetry("\0".join(a_texts).encode(), "\0".join(b_texts).encode())
    if swapped:
        a_texts, a_sizes, b_texts, b_sizes = b_texts, b_sizes, a_texts, a_sizes
    i, j = sampled_pairs(len(a_texts), len(b_texts), max_pairs, seed)

    def joined_sizes(pairs: tuple[np.ndarray, np.ndarray]) -> list[int]:
        sizes = []
        for x, y in zip(
            (a_texts[k] for k in pairs[0]), (b_texts[k] for k in pairs[1]), strict=True
        ):
            sizes.append(compressed_size(x + y if x <= y else y + x, level))
        return sizes

    chunks = [
        (ci, cj)
        for ci, cj in zip(np.array_split(i, workers), np.array_split(j, workers), strict=True)
    ]
    with ThreadPoolExecutor(workers) as pool:
        cxy = np.array([size for part in pool.map(joined_sizes, chunks) for size in part], float)
    cx, cy = np.asarray(a_sizes, float)[i], np.asarray(b_sizes, float)[j]
    values = 1.0 - (cxy - np.minimum(cx, cy)) / np.maximum(cx, cy)
    return pair_mean(
        values, i, j, len(a_texts), len(b_texts), resamples, seed, train_side=int(swapped)
    )


def sampled_pairs(n: int, m: int, max_pairs: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The (i, j) example pairs of an n x m comparison: all, or `max_pairs` drawn by `seed`."""
    if n * m <= max_pairs:
        return all_pairs(n, m)
    rng = np.random.default_rng(seed)
    return rng.integers(0, n, max_pairs), rng.integers(0, m, max_pairs)


def naive_gzip_alignment(
    a_texts: Sequence[str], b_texts: Sequence[str], level: int = DEFAULTS["level"]
) -> float:
    """The reference's cost model, for benchmarks: three compressions per pair, one thread."""
    values = [
        1.0
        - ncd(compressed_size(x, level), compressed_size(y, level), compressed_size(x + y, level))
        for x in a_texts
        for y in b_texts
    ]
    return float(np.mean(values))
