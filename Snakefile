# dataalign: does the alignment of training data with a benchmark predict model performance?
# This file is the table of contents; each stage lives in workflow/rules/, all logic in
# src/dataalign/. Run `snakemake --cores N` for every experiment, or name one target.

from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/align.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/analyze.smk"
include: "workflow/rules/panel.smk"
include: "workflow/rules/select.smk"


localrules:
    all,


rule all:
    input:
        PLAN.all_targets(),
