"""Perplexity correlations (Thrush et al., 2024): weight each example by how a panel's losses
on it track their losses on the target, by the `perplexity-correlations` package.

Its estimate is per example (a shard's are the whole pool's). The package's `projection.linear`
gives the top estimates their full cap (tokens / budget) until the budget and one example a
fraction: the examples at full cap are the greedy choice of its ranking, which is how the
choice takes them (tested equal to `linear`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from dataalign.errors import ConfigError, DatasetError
from dataalign.plugins import option
from dataalign.select.strategies import Strategy, StrategyView


def score(pool, index: pd.DataFrame, target, settings) -> np.ndarray:
    """`perplexity-correlations`' estimate of each example's weight: how the panel's bits per
    byte on it track their bits per byte on the target (its estimator, e.g. Spearman).

    Panel members score the pool and the target in their own jobs (rule score_panel); the
    target's loss plays the benchmark error the library expects. The estimators used depend on
    its ranks only, so it enters as ranks scaled into (0, 1), the range the library checks.
    """
    from perplexity_correlations import estimation

    bits, on_target = panel_bits_per_byte(pool.names, index, settings)
    y = (pd.Series(on_target).rank().to_numpy() / (len(on_target) + 1)).astype(np.float64)
    return getattr(estimation, settings["estimator"])(bits, y)


def panel_bits_per_byte(
    names: list[str], index: pd.DataFrame, settings
) -> tuple[np.ndarray, np.ndarray]:
    """Members x pool examples bits per byte, and each member's bits per byte on the target
    (`names`: the pool's datasets, which `index["part"]` indexes)."""
    requests = settings["requests"]  # dataset -> request digest
    keys = pd.MultiIndex.from_arrays([np.asarray(names)[index["part"]], index["row"]])
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


def settings(entry, view: StrategyView) -> dict[str, Any]:
    """The estimator, the panel, and the request digests of the pool's and target's scores."""
    requests = {r["dataset"]: r["request"] for r in view.pool_requests()}
    return {
        "estimator": entry["estimator"],
        "models": entry["models"],
        "requests": requests,
        "target": view.target,
    }


def check(key: str, entry, scored: list[str], config) -> None:
    """At least 3 declared panel members, and datasets they can score whole."""
    models = entry["models"]
    if len(models) < 3 or any(m not in config["models"] for m in models):
        raise ConfigError(
            f"config key {key}.models: name at least 3 models declared under models: (the "
            f"panel whose losses are correlated; got {models})."
        )
    split = [d for d in scored if config["datasets"][d]["format"] == "split"]
    if split:
        raise ConfigError(
            f"config key {key}: panel members score whole rows, but {split} split each row "
            "into several examples. Fix: format text or pair for those datasets."
        )


OPTIONS = {
    "models": option(
        [],
        "the panel (at least 3 models under `models:`) that scores every pool and target "
        "example as running text (bits per byte, rule `score_panel`, shared with panels), whose "
        "bits per byte on each pool example are correlated with theirs on the target",
        type="array",
        uniqueItems=True,
        items={"type": "string"},
    ),
    "estimator": option(
        "spearmanr",
        "the library's estimator (all use only the ranks of the target losses)",
        enum=["spearmanr", "sign_cdf", "sign_sign", "sign"],
    ),
    "batch_size": option(64, "the panel members' scoring batch", type="integer", minimum=1),
}
STRATEGY = Strategy(
    "perplexity_correlations",
    score=score,
    options=OPTIONS,
    settings=settings,
    ranks=False,
    panel=True,
    check=check,
)
