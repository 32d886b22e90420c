"""Alignment tables as researchers read them: the train x eval matrix of `value ± se`, and the
candidate train sets ranked by their alignment with each benchmark, with which differences are
beyond noise.

A candidate's alignment with a benchmark is a mean over its draws (disjoint subsets, each one
alignment file row). The benchmark is the same for every candidate, so comparing two
candidates on it is noisy only through the candidates' own examples: each draw's `train_se`
(the SE with the benchmark held fixed) is the noise to count. Using the two-sided `se`, which
also resamples the benchmark, would count the shared benchmark's noise once per candidate and
call real differences noise.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations

import numpy as np
import pandas as pd
from scipy import stats

from dataalign.analysis.multiple_testing import adjusted
from dataalign.errors import DataAlignError

ALPHA = 0.05  # the family-wise error rate of one metric's and benchmark's pairwise tests
LEVEL = 0.95  # each candidate's interval


def mean_se(se: pd.Series) -> float:
    """The SE of a mean of independent estimates (disjoint draws): sqrt of the summed variances
    over their count; NaN when any is NaN (pandas' sum would skip it and report less noise)."""
    return float(np.sqrt(np.sum(np.square(se.to_numpy())))) / len(se)


def draw_means(long: pd.DataFrame, keys: list[str], se: str) -> pd.DataFrame:
    """Each `keys` group's mean alignment over its draws, the SE of that mean from column `se`,
    and its number of draws."""
    return (
        long.groupby(keys, sort=False)
        .agg(alignment=("alignment", "mean"), se=(se, mean_se), draws=("seed", "nunique"))
        .reset_index()
    )


def alignment_table(frames: Sequence[pd.DataFrame]) -> tuple[pd.DataFrame, str]:
    """The long table (one row per train seed x eval) and a Markdown matrix of `value ± se`.

    Seeds of one train set are disjoint draws, so a cell averages them and its SE combines
    theirs as independent estimates (`mean_se`).
    """
    long = pd.concat(frames, ignore_index=True)
    cells = draw_means(long, ["train", "eval"], "se").set_index(["train", "eval"])
    cells["cell"] = [
        f"{a:.4f} ± {s:.4f}" for a, s in zip(cells["alignment"], cells["se"], strict=True)
    ]
    matrix = cells["cell"].unstack("eval")
    metric, draws = long["metric"].iloc[0], int(cells["draws"].max())
    header = (
        f"Alignment ({metric}): rows are train sets (mean of {draws} draw(s)), columns eval sets; "
        "± is the standard error from resampling both datasets' batches or examples. The CSV "
        "has per draw: std (spread of the pair values), se, ci_low, ci_high (95%), n (examples "
        "read), n_total (examples held), sampling_se (the part of se from embedding a sample "
        "of a large subset) and train_se (the se with the benchmark held fixed, which the "
        "ranking uses); `note` says why a se is empty (Task2Vec: fewer than 8 disjoint "
        "groups of sequences on a side, where the ± reads nan).\n\n"
    )
    return long, header + matrix.to_markdown() + "\n"


def welch_df(se: np.ndarray, df: np.ndarray) -> float:
    """Welch-Satterthwaite degrees of freedom of a sum of independent estimates' variances."""
    variances = np.square(se)
    return float(variances.sum() ** 2 / np.sum(np.square(variances) / df))


def candidate_errors(long: pd.DataFrame) -> pd.DataFrame:
    """Each (metric, eval, train)'s mean over its draws, the SE of that mean with the benchmark
    held fixed (`mean_se` of the draws' train_se) and its degrees of freedom (`welch_df` of
    the draws' train_df: few examples per draw make the SE itself uncertain)."""
    means = draw_means(long, ["metric", "eval", "train"], "train_se")
    df = long.groupby(["metric", "eval", "train"], sort=False).apply(
        lambda draws: welch_df(draws["train_se"].to_numpy(), draws["train_df"].to_numpy()),
        include_groups=False,
    )
    return means.assign(df=df.to_numpy())


def pairwise(candidates: pd.DataFrame) -> pd.DataFrame:
    """Every pair of one metric's and benchmark's candidates, higher first: the difference, its
    Welch t-test p (two-sided) and Holm's adjustment over the pairs (NaN where an SE is
    missing)."""
    rows = []
    ordered = candidates.sort_values("alignment", ascending=False)
    for (_, high), (_, low) in combinations(ordered.iterrows(), 2):
        difference = high["alignment"] - low["alignment"]
        se = float(np.hypot(high["se"], low["se"]))
        df = welch_df(np.array([high["se"], low["se"]]), np.array([high["df"], low["df"]]))
        p = 2 * stats.t.sf(abs(difference) / se, df) if se > 0 else np.nan
        rows.append(
            {"higher": high["train"], "lower": low["train"], "difference": difference, "se": se}
            | {"p": p}
        )
    pairs = pd.DataFrame(rows, columns=["higher", "lower", "difference", "se", "p"])
    pairs["p_holm"] = adjusted(pairs["p"].to_numpy()) if len(pairs) else []
    return pairs


def rank_candidates(long: pd.DataFrame, alpha: float = ALPHA) -> pd.DataFrame:
    """One row per metric, benchmark and candidate, best first: its alignment (mean of its
    draws), SE, degrees of freedom and 95% t interval with the benchmark held fixed, its rank,
    the candidates it is above beyond noise (Holm-adjusted p < `alpha` over the metric's and
    benchmark's pairs), and the adjusted p of its difference from the next candidate down."""
    if not {"train_se", "train_df"} <= set(long.columns):
        raise DataAlignError(
            "these alignment files were computed before they carried train_se and train_df, "
            "which the ranking needs. Fix: delete the experiment's folder under results/alignment/ "
            "and rerun; only the alignments are recomputed (the embeddings are cached)."
        )
    tables = []
    for _, candidates in candidate_errors(long).groupby(["metric", "eval"], sort=False):
        candidates = candidates.sort_values("alignment", ascending=False).reset_index(drop=True)
        pairs = pairwise(candidates)
        beyond = pairs[pairs["p_holm"] < alpha]
        candidates["rank"] = np.arange(1, len(candidates) + 1)
        half = stats.t.ppf((1 + LEVEL) / 2, candidates["df"]) * candidates["se"]
        candidates["ci_low"] = candidates["alignment"] - half
        candidates["ci_high"] = candidates["alignment"] + half
        candidates["above"] = [
            "; ".join(beyond.loc[beyond["higher"] == train, "lower"])
            for train in candidates["train"]
        ]
        p_holm = pairs.set_index(["higher", "lower"])["p_holm"]
        below = candidates["train"].shift(-1)
        candidates["p_next"] = [
            p_holm[(train, lower)] if isinstance(lower, str) else np.nan
            for train, lower in zip(candidates["train"], below, strict=True)
        ]
        tables.append(candidates)
    columns = ["metric", "eval", "rank", "train", "alignment", "se", "ci_low", "ci_high"]
    return pd.concat(tables, ignore_index=True)[[*columns, "df", "draws", "above", "p_next"]]


def ranking_markdown(ranking: pd.DataFrame, alpha: float = ALPHA) -> str:
    """The ranking as a reader scans it: one table per metric and benchmark, then whether the
    metrics agree on the best candidate."""
    draws = int(ranking["draws"].min())
    parts = [
        f"Candidates ranked by alignment (mean of {draws} draw(s) each). The 95% CI and the "
        "tests count the candidates' sampling only: the benchmark is the same for all of them. "
        f"'Above, beyond noise': Holm-adjusted p < {alpha:g} over every pair of candidates of "
        "that metric and benchmark (a gap larger than redrawing the candidates' examples would "
        "plausibly give); '—': not distinguishable from those below it at these sizes, which "
        "is not evidence that they are equal; 'no error bar': the metric gave none (too few "
        "examples or groups), so it is not tested.\n"
    ]
    for (metric, benchmark), table in ranking.groupby(["metric", "eval"], sort=False):
        shown = pd.DataFrame(
            {
                "rank": table["rank"],
                "train set": table["train"],
                "alignment": [f"{a:.4f}" for a in table["alignment"]],
                "95% CI": [
                    f"[{low:.4f}, {high:.4f}]"
                    for low, high in zip(table["ci_low"], table["ci_high"], strict=True)
                ],
                "above, beyond noise": [
                    above or ("no error bar" if np.isnan(se) else "—")
                    for above, se in zip(table["above"], table["se"], strict=True)
                ],
            }
        )
        parts.append(f"**{metric}, benchmark {benchmark}**\n\n{shown.to_markdown(index=False)}\n")
    for benchmark, table in ranking.groupby("eval", sort=False):
        if table["metric"].nunique() > 1:
            parts.append(verdict(benchmark, table))
    return "\n".join(parts)


def verdict(benchmark: str, table: pd.DataFrame) -> str:
    """Whether the metrics agree on the best candidate for one benchmark, and whether each
    metric's best is beyond noise of its second."""
    top = table[table["rank"] == 1]
    runners_up = table[table["rank"] == 2]
    second = dict(zip(runners_up["metric"], runners_up["train"], strict=True))
    picks = ", ".join(
        f"{metric}: {train}" + ("" if second.get(metric, "") in above.split("; ") else " (tied)")
        for metric, train, above in zip(top["metric"], top["train"], top["above"], strict=True)
    )
    if top["train"].nunique() == 1:
        return f"Best candidate for {benchmark} by metric ({picks}): the metrics agree.\n"
    return (
        f"Best candidate for {benchmark} by metric ({picks}): the metrics disagree, so alignment "
        "alone cannot decide; train on the contenders (an experiment of kind finetune) or add a "
        "metric.\n"
    )
