"""Did the choice pay off? Per strategy: benchmark loss over seeds, its difference from random,
the chosen subset's alignment with the benchmark, its make-up and what choosing it cost.

The seed is the unit: each seed is one choice (for sampled strategies) and one trained model,
so intervals are Student t over seeds of the cross-entropy (perplexity: exp of its mean and
bounds, the geometric mean over seeds). The difference from random, and from DSIR (the field's
baseline) and the whole pool (`full`) where the experiment runs them, is given twice: a Welch
t-test of the cross-entropies, and, because every strategy trains with the same seeds, the
paired t-test of the per-seed differences (seed s of a strategy against seed s of the
baseline), each Holm-corrected over every strategy and benchmark compared with that baseline.
Where both sides have no variance (a deterministic choice trained identically) there is no
test: NaN, and `note` says so.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from dataalign.analysis import BASE
from dataalign.analysis.multiple_testing import adjusted

# The baselines every strategy is compared with, in an experiment (those it runs) and in a study:
# random, the field's standard (DSIR), today's best (BETR-style classifier extrapolation), and
# the whole pool.
BASELINES = RANDOM, DSIR, BETR, FULL = ("random", "dsir", "betr", "full")
UNTRAINED = "base (untrained)"  # the table's row of the untrained model


def difference_columns(baseline: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The Welch and the paired columns of a comparison with `baseline`."""
    prefix = f"ce_vs_{baseline}"
    welch = (prefix, f"{prefix}_ci_low", f"{prefix}_ci_high", f"{prefix}_p")
    return welch, (f"{prefix}_paired_ci_low", f"{prefix}_paired_ci_high", f"{prefix}_paired_p")


NO_VARIANCE = "no variance over seeds on either side: no test"
ONE_CHOICE = "the same rows every seed: its interval is training noise only"


def seed_interval(values: Sequence[float], level: float = 0.95) -> tuple[float, float, float]:
    """Mean and Student-t interval over seeds (NaN bounds with a single seed)."""
    values = np.asarray(values, dtype=float)
    mean = float(values.mean())
    if len(values) < 2:
        return mean, np.nan, np.nan
    half = stats.t.ppf((1 + level) / 2, len(values) - 1) * stats.sem(values)
    return mean, mean - half, mean + half


def welch_difference(
    a: Sequence[float], b: Sequence[float], level: float = 0.95
) -> tuple[float, float, float, float]:
    """mean(a) - mean(b), its Welch interval and two-sided p (NaN with fewer than 2 seeds each,
    or when neither side varies)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    diff = float(a.mean() - b.mean())
    if len(a) < 2 or len(b) < 2 or (np.ptp(a) == 0 and np.ptp(b) == 0):
        return diff, np.nan, np.nan, np.nan
    test = stats.ttest_ind(a, b, equal_var=False)
    low, high = test.confidence_interval(level)
    return diff, float(low), float(high), float(test.pvalue)


def paired_difference(
    a: pd.Series, b: pd.Series, level: float = 0.95
) -> tuple[float, float, float]:
    """Student-t interval and two-sided p of the per-seed differences a[seed] - b[seed] (seeds
    in both; NaN with fewer than 2 such seeds or differences that do not vary)."""
    differences = (a - b).dropna().to_numpy(float)
    if len(differences) < 2 or np.ptp(differences) == 0:
        return np.nan, np.nan, np.nan
    test = stats.ttest_1samp(differences, 0.0)
    low, high = test.confidence_interval(level)
    return float(low), float(high), float(test.pvalue)


def selection_costs(jobs: pd.DataFrame, scans: pd.DataFrame) -> pd.DataFrame:
    """Per strategy, the wall time of its scoring jobs (every shard's score and statistic) plus
    the pool scans every strategy needs, and the largest peak memory among them."""
    costs = jobs.groupby("strategy").agg(
        wall_s=("wall_s", "sum"), peak_rss_mb=("peak_rss_mb", "max")
    )
    costs["wall_s"] += scans["wall_s"].sum()
    costs["peak_rss_mb"] = costs["peak_rss_mb"].clip(lower=scans["peak_rss_mb"].max())
    return costs.reset_index()


def selection_table(
    scores: pd.DataFrame,
    alignments: pd.DataFrame,
    choices: pd.DataFrame,
    costs: pd.DataFrame,
    strategies: Sequence[str],
) -> pd.DataFrame:
    """One row per strategy and benchmark.

    `scores`: evaluations (train, eval, seed, ce, ppl; train is `{experiment}.{strategy}`,
    `pool-{digest}.full` for the whole pool, or `base` for the untrained model);
    `alignments`: (train, eval, seed, metric, alignment);
    `choices`: per strategy and seed, tokens, examples, composition and choose wall time;
    `costs`: per strategy, its scoring's wall time and peak memory (`selection_costs`). With a
    `rows` column in `choices` (each seed's `chosen_rows`), the table counts the distinct rows
    the seeds chose together (`distinct_rows`, against `rows_per_seed`): a ranking without
    temperature chooses the same rows every seed, and `note` says its interval is training
    noise only.
    """
    strategy_of = {train: train.rsplit(".", 1)[-1] for train in scores["train"].unique()}
    scores = scores.assign(strategy=scores["train"].map(strategy_of))
    alignments = alignments.assign(strategy=alignments["train"].map(lambda t: t.rsplit(".", 1)[-1]))
    rows = []
    for benchmark, on_benchmark in scores.groupby("eval", sort=False):
        by_strategy = {s: g.sort_values("seed") for s, g in on_benchmark.groupby("strategy")}
        for strategy in strategies:
            group = by_strategy[strategy]
            mine = choices[choices["strategy"] == strategy]
            row = {"strategy": strategy, "eval": benchmark, "seeds": len(group)}
            interval = seed_interval(group["ce"])
            row.update(zip(("ce", "ce_ci_low", "ce_ci_high"), interval, strict=True))
            row.update(zip(("ppl", "ppl_ci_low", "ppl_ci_high"), np.exp(interval), strict=True))
            for name in BASELINES:
                baseline = by_strategy.get(name)
                if baseline is None or strategy == name:
                    continue
                welch, paired = difference_columns(name)
                difference = welch_difference(group["ce"], baseline["ce"])
                row.update(zip(welch, difference, strict=True))
                per_seed = [g.set_index("seed")["ce"] for g in (group, baseline)]
                row.update(zip(paired, paired_difference(*per_seed), strict=True))
                if (
                    name == "random"
                    and np.isnan(difference[-1])
                    and min(len(group), len(baseline)) > 1
                ):
                    row["note"] = NO_VARIANCE
            row["tokens"] = float(mine["tokens"].mean())
            row["distinct_choices"] = int(mine["rows_digest"].nunique())
            if "rows" in mine:  # how far the seeds' choices spread over the pool
                row["distinct_rows"] = len(frozenset().union(*mine["rows"]))
                row["rows_per_seed"] = float(mine["rows"].map(len).mean())
            if row["distinct_choices"] == 1 and len(mine) > 1:
                row["note"] = "; ".join(filter(None, (row.get("note"), ONE_CHOICE)))
            row["composition"] = top_sources(mine["composition"])
            for metric, values in alignments[
                (alignments["strategy"] == strategy) & (alignments["eval"] == benchmark)
            ].groupby("metric"):
                row[f"alignment_{metric}"] = float(values["alignment"].mean())
            cost = costs.set_index("strategy").loc[strategy]
            row["select_s"] = float(cost["wall_s"] + mine["wall_s"].mean())
            row["peak_rss_mb"] = float(max(cost["peak_rss_mb"], mine["peak_rss_mb"].max()))
            rows.append(row)
        base = on_benchmark[on_benchmark["train"] == BASE]
        if not base.empty:
            untrained = {"ce": float(base["ce"].mean()), "ppl": float(base["ppl"].mean())}
            rows.append({"strategy": UNTRAINED, "eval": benchmark, "seeds": 1, **untrained})
    table = pd.DataFrame(rows)
    for name in BASELINES:  # a family each: every strategy and benchmark against that baseline
        welch, paired = difference_columns(name)
        for p in (welch[-1], paired[-1]):
            if p in table:
                table[f"{p}_holm"] = adjusted(table[p])
    if "note" in table:
        table["note"] = table["note"].fillna("")
    return table


def chosen_rows(subset: pd.DataFrame) -> frozenset[tuple[str, int]]:
    """A chosen subset's examples as (pool dataset, row) pairs."""
    return frozenset(zip(subset["dataset"], subset["row"].tolist(), strict=True))


def top_sources(compositions: pd.Series, shown: int = 3) -> str:
    """The pool datasets with the largest mean share of the chosen tokens, e.g. `minif2f 0.91`."""
    shares = pd.DataFrame(list(compositions)).fillna(0.0).mean().sort_values(ascending=False)
    return ", ".join(f"{name} {share:.2f}" for name, share in shares.head(shown).items() if share)


def study_table(tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Several select experiments' `selection_table`s read as one study (by experiment name).

    One row per experiment, benchmark and strategy: the paired per-seed difference in CE from
    random, DSIR, `betr` and the whole pool (`full`) where the experiment runs them, with Holm
    over the whole study (every strategy x target against that baseline) replacing each table's
    own, and the verdict against each from that Holm p (`verdict`): `better` or `worse`, else `tie`.
    """
    rows = []
    for experiment, table in tables.items():
        trained = table[table["strategy"] != UNTRAINED]
        for _, row in trained.iterrows():
            entry = {"experiment": experiment, "eval": row["eval"], "strategy": row["strategy"]}
            entry.update(ce=row["ce"], ce_ci_low=row["ce_ci_low"], ce_ci_high=row["ce_ci_high"])
            for baseline in BASELINES:
                welch, paired = difference_columns(baseline)
                if paired[-1] not in row or pd.isna(row.get(welch[0])):
                    continue
                entry[welch[0]] = row[welch[0]]
                entry.update({column: row[column] for column in paired})
            rows.append(entry)
    study = pd.DataFrame(rows)
    for baseline in BASELINES:
        welch, paired = difference_columns(baseline)
        if paired[-1] in study:
            holm = adjusted(study[paired[-1]])
            study[f"{paired[-1]}_holm"] = holm
            verdicts = [verdict(d, p) for d, p in zip(study[welch[0]], holm, strict=True)]
            study[f"vs_{baseline}"] = verdicts
    return study


def verdict(difference: float, p_holm: float, alpha: float = 0.05) -> str:
    """`better` (lower CE) or `worse` where the Holm-adjusted paired p is below `alpha`; `tie`
    otherwise: an unadjusted interval that excludes 0 is one of many comparisons."""
    if pd.isna(difference) or pd.isna(p_holm):
        return "no test"
    if p_holm >= alpha:
        return "tie"
    return "better" if difference < 0 else "worse"


def study_wins(study: pd.DataFrame) -> pd.DataFrame:
    """Per strategy, over the study's targets: how often it beat, tied or lost to each baseline."""
    counts = {}
    for baseline in BASELINES:
        column = f"vs_{baseline}"
        if column in study:
            table = study.groupby("strategy")[column].value_counts().unstack(fill_value=0)
            counts[baseline] = table.reindex(columns=["better", "tie", "worse"], fill_value=0)
    return pd.concat(counts, axis=1) if counts else pd.DataFrame()
