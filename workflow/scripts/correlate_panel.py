"""Rule correlate_panel: does the candidate rank the panel like the benchmarks do?"""

import pandas as pd

from dataalign.analysis import example_signal, panel_correlations
from dataalign.io import read_parquet, write_text
from dataalign.jobs import job_logging
from dataalign.panel import read_benchmark_scores, summed_scores
from dataalign.plots import plot_panel

with job_logging(snakemake.log[0]):
    models, candidate = snakemake.params.models, snakemake.params.candidate
    scores = pd.concat([read_parquet(p) for p in snakemake.input.scores], ignore_index=True)
    summed = summed_scores(scores)
    totals = summed[summed["benchmark"] == candidate].set_index("model")["score"]
    benchmarks = summed[summed["benchmark"] != candidate]
    if snakemake.input.benchmark_scores:
        supplied = read_benchmark_scores(snakemake.input.benchmark_scores, models)
        benchmarks = pd.concat([benchmarks, supplied], ignore_index=True)
    table = panel_correlations(totals, benchmarks)
    examples = scores[scores["dataset"] == candidate]
    signal = pd.concat(
        [
            example_signal(examples, group.set_index("model")["score"]).assign(benchmark=name)
            for name, group in benchmarks.groupby("benchmark")
        ],
        ignore_index=True,
    )
    answers = examples.drop_duplicates("row").set_index("row")["answer"]
    signal["answer"] = signal["row"].map(answers)
    outputs = snakemake.output
    write_text(table.to_csv(index=False), outputs.csv)
    write_text(table.to_markdown(index=False, floatfmt=".4g"), outputs.markdown)
    write_text(table.to_latex(index=False, float_format="%.4g"), outputs.latex)
    write_text(pd.concat([totals.reset_index().assign(benchmark=candidate), benchmarks])
               .to_csv(index=False), outputs.totals)  # fmt: skip
    write_text(signal.to_csv(index=False), outputs.examples)
    plot_panel(totals, benchmarks, table, candidate, [outputs.png, outputs.pdf])
