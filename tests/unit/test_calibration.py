"""Calibration: the slope test holds its stated size at the designs the pipeline runs.

The null (slope 0) is simulated at 5, 6 and 7 train sets x 2 draws, with the three error
shapes that broke the cluster-robust t-test (CR1 with G - 1 df rejected 12-20% of them):
independent errors, a train-set random effect, and skewed alignments. Every replicate goes
through `dataalign.analysis.correlate`, as the pipeline's tables do.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dataalign.analysis.correlation import correlate

REPLICATES = 1000


def null_points(rng: np.random.Generator, train_sets: int, errors: str) -> pd.DataFrame:
    """Two draws per train set; alignment varies by train set, the loss does not follow it."""
    level = rng.exponential(1.0, train_sets) if errors == "skewed" else rng.normal(0, 1, train_sets)
    alignment = np.repeat(level, 2) + rng.normal(0, 0.1, 2 * train_sets)
    if errors == "random effect":
        ce = np.repeat(rng.normal(0, 1, train_sets), 2) + rng.normal(0, 0.5, 2 * train_sets)
    else:
        ce = rng.normal(0, 1, 2 * train_sets)
    units = np.repeat([f"t{k}" for k in range(train_sets)], 2)
    return pd.DataFrame(
        {
            "train": units,
            "unit": units,
            "eval": "e",
            "seed": np.tile([0, 1], train_sets),
            "alignment": alignment,
            "ce": ce,
            "ppl": np.exp(ce),
        }
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    ("train_sets", "errors"), [(5, "independent"), (6, "random effect"), (7, "skewed")]
)
def test_slope_p_rejects_a_true_null_about_five_percent_of_the_time(train_sets, errors):
    rng = np.random.default_rng(train_sets)
    rejections = [
        correlate(null_points(rng, train_sets, errors), "ce", resamples=1)["p_value"] < 0.05
        for _ in range(REPLICATES)
    ]
    assert 0.03 <= np.mean(rejections) <= 0.07


@pytest.mark.parametrize("seeds", [3, 5])
def test_selection_differences_hold_their_size_with_shared_seeds(seeds):
    """Strategies trained with the same seeds share a seed effect; under the null (no strategy
    effect) the paired and the Welch p each reject about 5% at the seed counts studies run."""
    from dataalign.select.summary import paired_difference, welch_difference

    rng = np.random.default_rng(seeds)
    paired, welch = [], []
    for _ in range(4000):
        seed_effect = rng.normal(0, 1.0, seeds)
        strategy = pd.Series(7 + seed_effect + rng.normal(0, 0.3, seeds))
        random = pd.Series(7 + seed_effect + rng.normal(0, 0.3, seeds))
        paired.append(paired_difference(strategy, random)[2] < 0.05)
        welch.append(welch_difference(strategy, random)[3] < 0.05)
    assert 0.04 <= np.mean(paired) <= 0.06
    assert np.mean(welch) <= 0.06  # conservative when seeds are shared: the paired test is the one
