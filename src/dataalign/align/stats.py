"""What every metric reports: a coefficient with its spread and a 95% confidence interval."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

import numpy as np
import pandas as pd
from scipy import stats

Data = TypeVar("Data")
Embedding = TypeVar("Embedding")


@dataclass(frozen=True)
class Alignment:
    """An alignment coefficient: `value` with the std of what it averages and a CI of the mean."""

    value: float
    std: float
    ci_low: float
    ci_high: float
    n: int

    def as_row(self) -> dict[str, Any]:
        return {"alignment": self.value, **{k: v for k, v in asdict(self).items() if k != "value"}}


def mean_with_ci(values: np.ndarray, level: float = 0.95) -> Alignment:
    """Mean of `values` with their population std and a t-based CI of the mean.

    The reference prints the population std (Table 4's "±"); older versions printed the CI.
    """
    values = np.asarray(values, dtype=np.float64).ravel()
    mean, n = float(values.mean()), values.size
    if n < 2:
        return Alignment(mean, 0.0, mean, mean, n)
    half = stats.t.ppf(0.5 + level / 2, n - 1) * values.std(ddof=1) / np.sqrt(n)
    return Alignment(mean, float(values.std()), mean - half, mean + half, n)


def swap_for_symmetry(a_key: bytes, b_key: bytes) -> bool:
    """Whether to swap a pair so random choices (pair samples, bootstraps) do not depend on order.

    Metrics compare digests of their inputs and work in that canonical order, which makes
    alignment(a, b) == alignment(b, a) exactly.
    """
    return hashlib.sha256(a_key).digest() > hashlib.sha256(b_key).digest()


def alignment_matrix(
    train: Mapping[str, Data],
    evaluation: Mapping[str, Data],
    embed: Callable[[Data], Embedding],
    align: Callable[[Embedding, Embedding], Alignment],
) -> pd.DataFrame:
    """Every train x eval alignment, embedding each dataset exactly once.

    The long table has one row per pair: train, eval, alignment, std, ci_low, ci_high, n.
    """
    embedded: dict[str, Embedding] = {}
    for name, data in {**train, **evaluation}.items():
        if name not in embedded:
            embedded[name] = embed(data)
    return pd.DataFrame(
        [
            {"train": t, "eval": e, **align(embedded[t], embedded[e]).as_row()}
            for t in train
            for e in evaluation
        ]
    )
