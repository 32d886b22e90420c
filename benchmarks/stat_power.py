"""Size and power of the slope tests at the designs the pipeline runs, side by side in one run.

Simulates G train sets x 2 draws (G = 5, 6, 7): alignment varies by train set, each draw adds a
little; the loss has a train-set random effect and draw noise. Under the null the loss does not
follow alignment (size: how often p < 0.05); under the alternative it falls with alignment as
in the demo's dose-response (power). Every test is the pipeline's own code
(`dataalign.analysis.inference`), with CR1 (the cluster-robust t-test the pipeline used
before) beside it.

    python benchmarks/stat_power.py                  # 1,000 replicates per cell
    python benchmarks/stat_power.py --replicates 200 # quicker
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats

from dataalign.analysis.inference import cr2_slope, permutation_p, wild_cluster_p

TESTS = ("CR1 (before)", "CR2 + Bell-McCaffrey", "wild cluster (p_value)", "permutation")


def design(
    rng: np.random.Generator, train_sets: int, slope: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Alignment spread evenly over train sets (as mixtures are), two draws each; CE."""
    level = np.linspace(0, 1, train_sets) + rng.normal(0, 0.05, train_sets)
    alignment = np.repeat(level, 2) + rng.normal(0, 0.02, 2 * train_sets)
    effect = np.repeat(rng.normal(0, 0.3, train_sets), 2)
    ce = slope * np.repeat(level, 2) + effect + rng.normal(0, 0.18, 2 * train_sets)
    return alignment, ce, np.repeat([f"t{k}" for k in range(train_sets)], 2)


def p_values(x: np.ndarray, y: np.ndarray, units: np.ndarray) -> list[float]:
    """The four tests' two-sided p of slope = 0."""
    z = np.ones((len(x), 1))
    codes = pd.factorize(units)[0]
    cr1 = sm.OLS(y, sm.add_constant(x)).fit(
        cov_type="cluster", cov_kwds={"groups": codes}, use_t=True
    )
    slope, se, df = cr2_slope(x, y, z, units)
    points = pd.DataFrame({"unit": units, "eval": "e", "alignment": x, "ce": y})
    return [
        float(cr1.pvalues[1]),
        float(2 * stats.t.sf(abs(slope / se), df)),
        wild_cluster_p(x, y, z, units),
        permutation_p(points, "ce", 10_000, 0)[0],
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicates", type=int, default=1000)
    parser.add_argument("--quick", action="store_true", help="3 replicates: seconds, for tests")
    args = parser.parse_args()
    if args.quick:
        args.replicates = 3
    print(f"{args.replicates} replicates per cell; share of p < 0.05")
    print(f"| train sets x 2 draws | truth | {' | '.join(TESTS)} |")
    print("|---|---|" + "---:|" * len(TESTS))
    for train_sets in (5, 6, 7):
        for truth, slope in (("null (size)", 0.0), ("slope -2 (power)", -2.0)):
            rng = np.random.default_rng(train_sets)
            rejected = np.mean(
                [
                    np.array(p_values(*design(rng, train_sets, slope))) < 0.05
                    for _ in range(args.replicates)
                ],
                axis=0,
            )
            cells = " | ".join(f"{share:.3f}" for share in rejected)
            print(f"| {train_sets} | {truth} | {cells} |", flush=True)


if __name__ == "__main__":
    main()
