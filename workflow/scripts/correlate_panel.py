"""Rule correlate_panel: does the candidate rank the panel like the benchmarks do, and beyond
general quality (the controls)?"""

import json

import pandas as pd

from dataalign.analysis.plots import plot_panel
from dataalign.io import read_parquet, write_table, write_text
from dataalign.jobs import job_logging
from dataalign.panel.harness import harness_scores
from dataalign.panel.scoring import example_scores, read_benchmark_scores, summarise_scores
from dataalign.panel.stats import example_signals, panel_correlations

with job_logging(snakemake.log[0]):
    panel, outputs = snakemake.params.panel, snakemake.output
    scores = pd.concat([read_parquet(p) for p in snakemake.input.scores], ignore_index=True)
    scores = scores[scores["request"].isin(snakemake.params.requests)]  # this panel's rows
    summary = [summarise_scores(scores, panel["kinds"])]
    harness = snakemake.input.harness  # one lm-eval result per member, in panel order
    for path, model in zip(harness, panel["models"] if harness else [], strict=True):
        with open(path) as results:
            summary.append(harness_scores(json.load(results), model, panel["metrics"]))
    if snakemake.input.benchmark_scores:
        summary.append(read_benchmark_scores(snakemake.input.benchmark_scores, panel["models"]))
    summary = pd.concat(summary, ignore_index=True)
    counts = ["answer_tokens", "answer_bytes", "examples", "windowed", "context_cut"]
    summary[counts] = summary[counts].astype("Int64")  # empty, not NaN, for lm-eval and CSV rows
    write_text(summary.to_csv(index=False), outputs.totals)
    wide = summary.pivot(index="model", columns="benchmark", values="score")
    benchmarks = [b for b in wide.columns if b not in (panel["candidate"], *panel["controls"])]
    benchmarks = [*panel["benchmarks"], *sorted(set(benchmarks) - set(panel["benchmarks"]))]
    table = panel_correlations(
        wide,
        panel["candidate"],
        benchmarks,
        panel["controls"],
        panel["target"],
        panel["bootstrap"],
        panel["seed"],
    )
    write_table(table, outputs.csv, outputs.markdown, outputs.latex)
    examples = example_scores(
        scores[scores["dataset"] == panel["candidate"]], panel["kinds"][panel["candidate"]]
    )
    others = summary[summary["benchmark"].isin(benchmarks)]
    signals = example_signals(examples, others, panel["flag_fdr"])
    write_text(signals.to_csv(index=False), outputs.examples)
    plot_panel(summary, table, panel["candidate"], panel["fit"], [outputs.png, outputs.pdf])
