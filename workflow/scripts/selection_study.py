"""Rule selection_study: several select experiments' tables read as one study, with Holm over
strategies x targets, each strategy's wins against random, DSIR, betr and the whole pool, and a
figure
of every strategy's paired difference from random per target."""

from dataalign.io import read_parquet, write_text
from dataalign.jobs import job_logging
from dataalign.select.plots import plot_selection_study
from dataalign.select.summary import study_table, study_wins

with job_logging(snakemake.log[0]):
    experiments, paths = snakemake.params.experiments, snakemake.input.tables
    tables = {e: read_parquet(path) for e, path in zip(experiments, paths, strict=True)}
    study = study_table(tables)
    wins = study_wins(study)
    write_text(study.to_csv(index=False), snakemake.output.csv)
    write_text(
        study.to_markdown(index=False, floatfmt=".4g")
        + "\n\nWins over the study's targets (paired CE difference, Holm p < 0.05):\n\n"
        + wins.to_markdown()
        + "\n",
        snakemake.output.markdown,
    )
    plot_selection_study(study, [snakemake.output.png, snakemake.output.pdf])
