"""Does the candidate rank the panel like a benchmark does, and beyond general quality?

A panel whose models differ mostly in general language-modelling quality ranks every dataset
alike, so a high Kendall tau with the target benchmark alone does not show the candidate taps
its skill. Nor does a larger tau with the target than with another benchmark: a benchmark
whose ranking is *reliable* (many examples, little noise per model) correlates more with
anything, skill or not (in simulated no-skill panels the plain paired difference "won" in 19%
of 20-member and 58% of 40-member panels). So each dataset's split-half reliability of the
model ranking is reported beside tau, and the paired bootstrap over models tests the
*reliability-corrected* difference: tau converted to a Pearson-scale correlation
(sin(pi tau / 2)) divided by the square root of both datasets' reliabilities, the correlation
of the models' true scores (capped at 1, so the test is conservative). The partial tau of
candidate and benchmark given a control corpus's score (general quality) is descriptive only:
it is not 0 when models differ in general quality alone (the control measures it with noise),
so it gets a bootstrap range but no p. Scores are oriented so that higher is better (bits per
byte negated) before any correlation.

What a few models cannot say is refused rather than reported: the bootstrap outputs need
`MIN_MEMBERS` models (fewer: tau with its exact p only), and a bootstrap output whose statistic
is undefined (NaN) in more than `MAX_UNDEFINED` of the resamples is NaN, with the share in
`note`. With 6 models 55% of partial-tau resamples are undefined (the control orders the
resample completely) and a quarter hold 3 distinct models or fewer; dropping those draws made
the paired p reject a true null 14% of the time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from dataalign.analysis.multiple_testing import adjusted

FITS = ("linear", "log", "power")
MIN_MEMBERS = 10
MAX_UNDEFINED = 0.10
SPLITS = 20  # random halvings of a dataset's examples the split-half reliability averages


def kendall(x: np.ndarray, y: np.ndarray) -> float:
    """Kendall's tau-b, NaN where either side is constant."""
    return float(kendall_rows(np.asarray(x, float)[None], np.asarray(y, float)[None])[0])


def kendall_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Kendall's tau-b of each row of x with the same row of y (NaN where a row is constant).

    tau-b = sum of sign products over pairs / sqrt(pairs untied in x * pairs untied in y), one
    vectorised pass for every bootstrap resample at once.
    """
    i, j = np.triu_indices(x.shape[1], k=1)
    sx, sy = np.sign(x[:, i] - x[:, j]), np.sign(y[:, i] - y[:, j])
    denominator = np.sqrt((sx != 0).sum(axis=1) * (sy != 0).sum(axis=1))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator > 0, (sx * sy).sum(axis=1) / denominator, np.nan)


def partial_kendall(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> float:
    """Kendall's partial tau of x and y given z (Kendall 1942): their association once z's
    common influence on both is taken out."""
    rows = [np.asarray(v, float)[None] for v in (x, y, z)]
    return float(partial_rows(*rows)[0])


def partial_rows(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
    """`partial_kendall` of each row; NaN where z orders x or y completely (nothing is left)."""
    xy, xz, yz = kendall_rows(x, y), kendall_rows(x, z), kendall_rows(y, z)
    with np.errstate(divide="ignore", invalid="ignore"):
        value = (xy - xz * yz) / np.sqrt((1 - xz**2) * (1 - yz**2))
    return np.where(np.isclose(np.abs(xz), 1) | np.isclose(np.abs(yz), 1), np.nan, value)


def control_index(wide: pd.DataFrame, controls: Sequence[str]) -> np.ndarray | None:
    """General quality per model: the mean rank over the control corpora (None without any)."""
    if not controls:
        return None
    return np.mean([stats.rankdata(wide[c].to_numpy(float)) for c in controls], axis=0)


def half_means(
    examples: pd.DataFrame, models: Sequence[str], splits: int = SPLITS, seed: int = 0
) -> dict[str, np.ndarray]:
    """Per dataset, each model's mean oriented `score` on either half of its examples over
    `splits` random halvings (splits x models x 2), for `split_half_reliability`. `examples`:
    model, dataset, row, score. A dataset some model lacks an example of, or with fewer than 4
    examples, is left out: its reliability is unknown."""
    rng, halves = np.random.default_rng(seed), {}
    for dataset, group in examples.groupby("dataset", sort=True):
        table = group.pivot_table(index="model", columns="row", values="score").reindex(models)
        if table.shape[1] < 4 or table.isna().to_numpy().any():
            continue
        values, n = table.to_numpy(float), table.shape[1]
        first = np.array([rng.permutation(n) < n // 2 for _ in range(splits)])  # splits x rows
        means = [values @ (mask.T / mask.sum(axis=1)) for mask in (first, ~first)]
        halves[dataset] = np.stack([m.T for m in means], axis=-1)
    return halves


def split_half_reliability(halves: np.ndarray, picks: np.ndarray) -> np.ndarray:
    """The Spearman-Brown split-half reliability of the models' scores in each resample
    (`picks`: resamples x models), averaged over the halvings: the share of the spread of the
    models' scores that is not example noise. NaN where a half is constant."""
    a, b = halves[:, picks, 0], halves[:, picks, 1]  # splits x resamples x models
    a, b = a - a.mean(axis=-1, keepdims=True), b - b.mean(axis=-1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = (a * b).sum(axis=-1) / np.sqrt((a * a).sum(axis=-1) * (b * b).sum(axis=-1))
        return np.nanmean(2 * r / (1 + r), axis=0) if len(r) else np.full(len(picks), np.nan)


def true_score_correlation(tau: np.ndarray, reliability: np.ndarray) -> np.ndarray:
    """Kendall tau on the Pearson scale (sin(pi tau / 2), exact for normal scores) divided by
    the square root of the two datasets' reliabilities' product: the correlation the models'
    noise-free scores would show, kept within [-1, 1] (two reliable rankings that agree with
    the candidate equally read 1 and 1, not whichever is slightly less reliable as higher).
    NaN where a reliability is not positive."""
    with np.errstate(divide="ignore", invalid="ignore"):
        corrected = np.sin(np.pi * tau / 2) / np.sqrt(reliability)
    return np.where(reliability > 0, np.clip(corrected, -1.0, 1.0), np.nan)


def fit_r2(x: np.ndarray, y: np.ndarray, fit: str) -> float:
    """r² of y = a + b x (linear), y = a + b ln|x| (log) or ln|y| = a + b ln|x| (power law),
    every one on the scale of y (1 - residual / total sum of squares of y), so they compare.

    The log forms need every value on one side of zero (scores are oriented, so a summed
    log-likelihood is negative throughout); otherwise NaN.
    """
    fx, _ = _fit_axes(x, y, fit)
    if fx is None or len(fx) < 3 or np.ptp(fx) == 0 or np.ptp(y) == 0:
        return float("nan")
    predicted = fit_curve(x, y, fit, np.asarray(x, float))
    return float(1 - np.sum((y - predicted) ** 2) / np.sum((y - np.mean(y)) ** 2))


def fit_curve(x: np.ndarray, y: np.ndarray, fit: str, grid: np.ndarray) -> np.ndarray | None:
    """The fitted `fit` evaluated on `grid` (x values), for drawing; None if it cannot be fitted."""
    fx, fy = _fit_axes(x, y, fit)
    if fx is None or len(fx) < 2 or np.ptp(fx) == 0:
        return None
    intercept_slope = np.polyfit(fx, fy, 1)
    if fit == "linear":
        return np.polyval(intercept_slope, grid)
    curve = np.polyval(intercept_slope, np.log(np.abs(grid)))
    return curve if fit == "log" else np.sign(y[0]) * np.exp(curve)


def _fit_axes(x: np.ndarray, y: np.ndarray, fit: str) -> tuple[np.ndarray | None, np.ndarray]:
    def one_sided(v: np.ndarray) -> bool:
        return bool((v > 0).all() or (v < 0).all())

    if fit == "linear":
        return x, y
    if not one_sided(x) or (fit == "power" and not one_sided(y)):
        return None, y
    return np.log(np.abs(x)), (y if fit == "log" else np.log(np.abs(y)))


def _bootstrap_p(draws: np.ndarray) -> float:
    """Two-sided bootstrap p of a difference: twice the share of resamples on the far side of 0,
    counting the observed sample among them, so it is never below 2 / (resamples + 1)."""
    far = min((draws <= 0).sum(), (draws >= 0).sum())
    return float(min(1.0, 2 * (far + 1) / (len(draws) + 1)))


def bootstrap_summary(
    observed: float, draws: np.ndarray, label: str, notes: list[str]
) -> tuple[float, float, float]:
    """Percentile 95% CI and bootstrap p of a statistic, or NaN when more than
    `MAX_UNDEFINED` of its draws are undefined (said in `notes`)."""
    undefined = float(np.isnan(draws).mean()) if len(draws) else 1.0
    if np.isnan(observed):
        return np.nan, np.nan, np.nan
    if undefined > MAX_UNDEFINED:
        refused = "CI or p" if label in TESTED else "CI"
        notes.append(f"{label} undefined in {undefined:.0%} of resamples: no {refused}")
        return np.nan, np.nan, np.nan
    draws = draws[~np.isnan(draws)]
    low, high = np.percentile(draws, [2.5, 97.5])
    return float(low), float(high), _bootstrap_p(draws)


def unreliable(datasets: Sequence[str], halves: Mapping[str, np.ndarray]) -> str:
    """Why a corrected difference is missing: a dataset without per-example scores (lm-eval,
    a user's table) has no split-half reliability; one with a reliability <= 0 ranks the models
    by noise alone."""
    missing = [dataset for dataset in datasets if dataset not in halves]
    if missing:
        return f"no per-example scores of {', '.join(missing)}: no reliability, no corrected_diff"
    return "a split-half reliability that is not positive (a ranking by noise): no corrected_diff"


# the paired differences given a p: partial tau is not 0 when models differ in general quality
# alone, so it and its difference get a bootstrap range only
TESTED = ("tau_diff", "corrected_diff")


def panel_correlations(
    wide: pd.DataFrame,
    candidate: str,
    benchmarks: Sequence[str],
    controls: Sequence[str] = (),
    target: str | None = None,
    resamples: int = 2000,
    seed: int = 0,
    halves: Mapping[str, np.ndarray] | None = None,
) -> pd.DataFrame:
    """One row per benchmark and control: how the candidate's score ranks the models like it.

    `wide` holds oriented scores (index model, one column per dataset); `halves` each
    dataset's split-half means (`half_means`, models in `wide`'s order) where its per-example
    scores are known. Columns: Kendall tau and Spearman rho with p-values; the dataset's
    split-half `reliability`; the partial tau given the controls' mean rank with its bootstrap
    range (descriptive); the paired-bootstrap difference tau(candidate, target) -
    tau(candidate, this) with CI and two-sided p, the same for the reliability-corrected
    correlation (`corrected_diff`, the specificity test) and for partial tau (range only); the
    r² of a linear, log and power-law fit of the score on the candidate's; `note` for what was
    refused. Models are resampled with replacement. Holm's correction runs over every p in the
    table (Kendall, tau difference, corrected difference).
    """
    target = target or benchmarks[0]
    z_all = control_index(wide, controls)
    x_all = wide[candidate].to_numpy(float)
    others = [*benchmarks, *controls]
    n_models = len(wide)
    rng = np.random.default_rng(seed)
    picks = np.vstack([np.arange(n_models), rng.integers(0, n_models, (resamples, n_models))])
    x = x_all[picks]
    taus = np.column_stack([kendall_rows(x, wide[name].to_numpy(float)[picks]) for name in others])
    partials = np.column_stack(
        [
            partial_rows(x, wide[name].to_numpy(float)[picks], z_all[picks])
            if z_all is not None and name in benchmarks
            else np.full(len(picks), np.nan)
            for name in others
        ]
    )
    halves = halves or {}
    unknown = np.full(len(picks), np.nan)

    def reliability(name: str) -> np.ndarray:
        return split_half_reliability(halves[name], picks) if name in halves else unknown

    own, reliabilities = reliability(candidate), {name: reliability(name) for name in others}
    corrected = np.column_stack(
        [true_score_correlation(taus[:, j], own * reliabilities[n]) for j, n in enumerate(others)]
    )
    bootstrap = n_models >= MIN_MEMBERS
    t = others.index(target)
    rows = []
    for j, name in enumerate(others):
        y = wide[name].to_numpy(float)
        tested = bool(np.ptp(x_all) and np.ptp(y))
        tau_p = stats.kendalltau(x_all, y).pvalue if tested else np.nan
        rho, rho_p = stats.spearmanr(x_all, y) if tested else (np.nan, np.nan)
        role = "target" if name == target else "control" if name in controls else "benchmark"
        row = {
            "benchmark": name,
            "role": role,
            "n_models": n_models,
            "kendall_tau": taus[0, j],
            "kendall_p": tau_p,
            "spearman_rho": rho,
            "spearman_p": rho_p,
            "reliability": reliabilities[name][0],
            "candidate_reliability": own[0],
            "partial_tau": partials[0, j],
        }
        notes: list[str] = []
        statistics = {"partial_tau": (partials[0, j], partials[1:, j])}
        if name != target:
            differences = {"tau_diff": taus, "corrected_diff": corrected, "partial_diff": partials}
            for label, values in differences.items():
                statistics[label] = (values[0, t] - values[0, j], values[1:, t] - values[1:, j])
        for label, (observed, draws) in statistics.items():
            if label != "partial_tau":
                row[label] = observed
            low, high, p = (
                bootstrap_summary(observed, draws, label, notes)
                if bootstrap
                else (np.nan, np.nan, np.nan)
            )
            row[f"{label}_ci_low"], row[f"{label}_ci_high"] = low, high
            if label in TESTED:
                row[f"{label}_p"] = p
        if not bootstrap:
            notes.append(f"{n_models} models < {MIN_MEMBERS}: tau and its exact p only")
        elif name != target and np.isnan(row["corrected_diff"]):
            notes.append(unreliable([candidate, target, name], halves))
        row.update({f"{fit}_r2": fit_r2(x_all, y, fit) for fit in FITS})
        row["note"] = "; ".join(notes)
        rows.append(row)
    table = pd.DataFrame(rows).reindex(columns=TABLE_COLUMNS)
    family = ["kendall_p", *(f"{label}_p" for label in TESTED)]
    holm = adjusted(table[family].to_numpy(float).ravel()).reshape(len(table), len(family))
    for k, column in enumerate(family):
        table.insert(table.columns.get_loc(column) + 1, f"{column}_holm", holm[:, k])
    table.insert(
        table.columns.get_loc("spearman_p") + 1, "spearman_p_holm", adjusted(table["spearman_p"])
    )
    return table


TABLE_COLUMNS = [
    "benchmark",
    "role",
    "n_models",
    "kendall_tau",
    "kendall_p",
    "spearman_rho",
    "spearman_p",
    "reliability",
    "candidate_reliability",
    "partial_tau",
    "partial_tau_ci_low",
    "partial_tau_ci_high",
    "tau_diff",
    "tau_diff_ci_low",
    "tau_diff_ci_high",
    "tau_diff_p",
    "corrected_diff",
    "corrected_diff_ci_low",
    "corrected_diff_ci_high",
    "corrected_diff_p",
    "partial_diff",
    "partial_diff_ci_low",
    "partial_diff_ci_high",
    *(f"{fit}_r2" for fit in FITS),
    "note",
]


def example_signal(examples: pd.DataFrame, scores: pd.Series, fdr: float = 0.05) -> pd.DataFrame:
    """Per candidate example: Kendall's tau across models of its score vs the benchmark's.

    `examples` has columns model, row, score (oriented); `scores` is the benchmark score by
    model. An answer the better models find *less* likely is a candidate for a wrong key: the
    one-sided p of tau < 0 is corrected over the examples (Benjamini-Hochberg) and `flagged`
    marks those below `fdr`, so with few models nothing is flagged on tau < 0 alone.
    """
    wide = examples.pivot(index="row", columns="model", values="score")
    models = [m for m in wide.columns if m in scores.index]
    benchmark = scores[models].to_numpy(float)
    rows = []
    for row, values in wide[models].iterrows():
        result = stats.kendalltau(values.to_numpy(float), benchmark, alternative="less")
        rows.append({"row": row, "kendall_tau": result.statistic, "p_value": result.pvalue})
    table = pd.DataFrame(rows)
    table["q_value"] = adjusted(table["p_value"], "fdr_bh")
    table["flagged"] = table["q_value"] < fdr
    return table.sort_values(["kendall_tau", "row"], ignore_index=True)


def question_support(own: pd.DataFrame, shifted: pd.DataFrame) -> pd.DataFrame:
    """Per example (index row) and member (columns): the bits per answer byte that the answer's
    own question saves over another row's question (`own` and `shifted` are the two requests'
    scores). An answer that belongs to its question gets support from every member that reads
    the question; a misplaced one gets none, however much it looks like a right answer."""
    joined = own.merge(shifted, on=["model", "row"], suffixes=("", "_shifted"), validate="1:1")
    saved = joined["loglik"] - joined["loglik_shifted"]
    bits = saved / (np.log(2) * joined["n_answer_bytes"])
    return joined.assign(support=bits).pivot(index="row", columns="model", values="support")


def panel_support(
    candidate: pd.DataFrame, reference: pd.DataFrame | None
) -> tuple[pd.Series, pd.Series | None, pd.Series]:
    """One support per example from the members' (`question_support` of the candidate and of
    the reference), and each member's share of it.

    A member that cannot read the question (too short a window, too little training) adds only
    noise to a plain mean, so each member is weighted by mean / variance of its support (the
    best linear weights for a shift in independent noise; 0 for no mean support), over every
    example of both sets together, and scaled so that the pooled examples' mean support is 1
    (0: no support; members' bits per byte differ too much to average). The weights are a
    symmetric function of the pooled examples, so a right candidate answer stays exchangeable
    with the reference's and the conformal p of `support_flags` stays valid. Where no member
    finds support on average, the plain mean (bits per byte).
    """
    pooled = candidate if reference is None else pd.concat([candidate, reference])
    means = pooled.mean()
    weights = (means / pooled.var()).replace(np.inf, 0).fillna(0).clip(lower=0)
    scale = float((weights * means).sum())
    weights = weights / scale if scale > 0 else weights * 0 + 1 / len(weights)
    combined = [None if m is None else m[weights.index] @ weights for m in (candidate, reference)]
    return combined[0], combined[1], weights * means


def support_flags(
    candidate: pd.Series, reference: pd.Series | None, fdr: float = 0.05
) -> pd.DataFrame:
    """Per candidate example (index row): its panel support (`panel_support`), the conformal
    p-value against the reference's right answers, the Benjamini-Hochberg q and `flagged`.

    p = (1 + reference answers with support <= the example's) / (references + 1): the share of
    right answers its question supports no better. It is valid (P(p <= a) <= a) for a right
    answer exchangeable with the reference's, and Benjamini-Hochberg over such p-values
    controls the false discovery rate (Bates et al. 2023). Without a reference: support only.
    """
    table = pd.DataFrame({"row": candidate.index, "support": candidate.to_numpy(float)})
    table["p_value"] = np.nan
    if reference is not None:
        references = np.sort(reference.to_numpy(float))
        below = np.searchsorted(references, table["support"].to_numpy(), side="right")
        table["p_value"] = (1 + below) / (len(references) + 1)
    table["q_value"] = adjusted(table["p_value"], "fdr_bh")
    table["flagged"] = table["q_value"] <= fdr  # Benjamini-Hochberg's rule is p(k) <= fdr k/n
    return table.sort_values(["support", "row"], ignore_index=True)


def flag_counts(signals: pd.DataFrame) -> pd.DataFrame:
    """Per benchmark, how many planted and intact candidate answers were flagged (of how many):
    the flags' hit rate and false-alarm rate where the errors are known."""
    counts = signals.groupby(["benchmark", "planted"])["flagged"].agg(flagged="sum", of="size")
    return counts.unstack("planted").rename(columns={True: "planted", False: "intact"}, level=1)


def example_signals(
    examples: pd.DataFrame, benchmarks: pd.DataFrame, fdr: float = 0.05
) -> pd.DataFrame:
    """`example_signal` against every benchmark, with each candidate answer for reading."""
    signals = pd.concat(
        [
            example_signal(examples, group.set_index("model")["score"], fdr).assign(benchmark=name)
            for name, group in benchmarks.groupby("benchmark")
        ],
        ignore_index=True,
    )
    answers = examples.drop_duplicates("row").set_index("row")["answer"]
    return signals.assign(answer=signals["row"].map(answers))
