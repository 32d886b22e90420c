# Analysis: does alignment predict performance? One fit, table and figure per experiment and metric,
# then every metric's fits in one table with p-values corrected across metrics and benchmarks.


rule correlate:
    input:
        alignments=lambda wildcards: PLAN.alignment_pairs(wildcards.exp, [wildcards.metric]),
        evaluations=lambda wildcards: PLAN.evaluations_of(wildcards.exp),
    output:
        csv=report(
            paths.table("correlation_{metric}"),
            caption="../report/correlation_table.rst",
            category="{exp}",
            subcategory="{metric}",
            labels={"table": "correlation"},
        ),
        markdown=paths.table("correlation_{metric}", "md"),
        latex=paths.table("correlation_{metric}", "tex"),
        parquet=paths.table("correlation_{metric}", "parquet"),  # what compare_metrics reads
        points=paths.table("points_{metric}"),
        points_parquet=paths.table("points_{metric}", "parquet"),
        png=report(
            paths.plot("alignment_vs_performance_{metric}"),
            caption="../report/correlation_plot.rst",
            category="{exp}",
            subcategory="{metric}",
            labels={"figure": "alignment vs performance"},
        ),
        pdf=paths.plot("alignment_vs_performance_{metric}", "pdf"),
    params:
        analysis=lambda wildcards: slices.analysis_params(config, wildcards.exp),
    log:
        paths.log("correlate", "{exp}/{metric}"),
    localrule: True
    conda:
        "../../envs/dataalign.yaml"
    script:
        "../scripts/correlate.py"


rule compare_metrics:
    input:
        points=lambda wildcards: expand(
            paths.table("points_{metric}", "parquet"),
            exp=wildcards.exp,
            metric=metrics_of(wildcards),
        ),
        tables=lambda wildcards: expand(
            paths.table("correlation_{metric}", "parquet"),
            exp=wildcards.exp,
            metric=metrics_of(wildcards),
        ),
        evaluations=lambda wildcards: PLAN.evaluations_of(wildcards.exp),
    output:
        csv=report(
            paths.table("correlations"),
            caption="../report/correlations_table.rst",
            category="{exp}",
            subcategory="all metrics",
            labels={"table": "correlations, Holm-corrected"},
        ),
        markdown=paths.table("correlations", "md"),
        latex=paths.table("correlations", "tex"),
        png=report(
            paths.plot("alignment_vs_performance_by_metric"),
            caption="../report/metrics_plot.rst",
            category="{exp}",
            subcategory="all metrics",
            labels={"figure": "alignment vs performance, by metric"},
        ),
        pdf=paths.plot("alignment_vs_performance_by_metric", "pdf"),
    params:
        comparison=lambda wildcards: slices.comparison_params(config, wildcards.exp),
    log:
        paths.log("compare_metrics", "{exp}"),
    localrule: True
    conda:
        "../../envs/dataalign.yaml"
    script:
        "../scripts/compare_metrics.py"


rule stage_costs:
    input:
        unpack(lambda wildcards: PLAN.stage_benchmarks(wildcards.exp)),
    output:
        csv=report(
            paths.table("costs"),
            caption="../report/costs_table.rst",
            category="{exp}",
            subcategory="cost",
            labels={"table": "cost per stage"},
        ),
        markdown=paths.table("costs", "md"),
    log:
        paths.log("stage_costs", "{exp}"),
    localrule: True
    conda:
        "../../envs/dataalign.yaml"
    script:
        "../scripts/stage_costs.py"


rule frontier:
    input:
        unpack(PLAN.frontier_inputs),
    output:
        csv=report(
            paths.table("frontier"),
            caption="../report/frontier_table.rst",
            category="{exp}",
            subcategory="frontier",
            labels={"table": "decision accuracy against cost"},
        ),
        markdown=paths.table("frontier", "md"),
        png=report(
            paths.plot("frontier"),
            caption="../report/frontier_plot.rst",
            category="{exp}",
            subcategory="frontier",
            labels={"figure": "decision accuracy against cost"},
        ),
        pdf=paths.plot("frontier", "pdf"),
    params:
        frontier=lambda wildcards: slices.frontier_params(config, wildcards.exp),
    log:
        paths.log("frontier", "{exp}"),
    localrule: True
    conda:
        "../../envs/dataalign.yaml"
    script:
        "../scripts/frontier.py"


rule unigram_baseline:
    input:
        unpack(PLAN.unigram_inputs),
    output:
        csv=report(
            paths.table("unigram"),
            caption="../report/unigram_table.rst",
            category="{exp}",
            subcategory="frontier",
            labels={"table": "target against a unigram model"},
        ),
        markdown=paths.table("unigram", "md"),
    params:
        unigram=lambda wildcards: slices.unigram_params(config, wildcards.exp),
    log:
        paths.log("unigram_baseline", "{exp}"),
    localrule: True
    conda:
        "../../envs/dataalign.yaml"
    script:
        "../scripts/unigram_baseline.py"
