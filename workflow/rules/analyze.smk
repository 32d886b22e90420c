# Analysis: does alignment predict performance? One fit, table and figure per experiment and metric,
# then every metric's fits in one table with p-values corrected across metrics and benchmarks.


rule correlate:
    input:
        alignments=alignment_pairs,
        evaluations=lambda wildcards: evaluations_of(wildcards.exp),
    output:
        csv=report(
            "results/tables/{exp}/correlation_{metric}.csv",
            caption="../report/correlation_table.rst",
            category="{exp}",
            subcategory="{metric}",
            labels={"table": "correlation"},
        ),
        markdown="results/tables/{exp}/correlation_{metric}.md",
        latex="results/tables/{exp}/correlation_{metric}.tex",
        points="results/tables/{exp}/points_{metric}.csv",
        png=report(
            "results/plots/{exp}/alignment_vs_performance_{metric}.png",
            caption="../report/correlation_plot.rst",
            category="{exp}",
            subcategory="{metric}",
            labels={"figure": "alignment vs performance"},
        ),
        pdf="results/plots/{exp}/alignment_vs_performance_{metric}.pdf",
    params:
        analysis=lambda wildcards: analysis_params(config, wildcards.exp),
    log:
        "logs/correlate/{exp}/{metric}.log",
    localrule: True
    conda:
        "../../envs/dataalign.yaml"
    script:
        "../scripts/correlate.py"


rule compare_metrics:
    input:
        points=lambda wildcards: expand(
            "results/tables/{{exp}}/points_{metric}.csv", metric=experiment_metrics(wildcards.exp)
        ),
        tables=lambda wildcards: expand(
            "results/tables/{{exp}}/correlation_{metric}.csv",
            metric=experiment_metrics(wildcards.exp),
        ),
        evaluations=lambda wildcards: evaluations_of(wildcards.exp),
    output:
        csv=report(
            "results/tables/{exp}/correlations.csv",
            caption="../report/correlations_table.rst",
            category="{exp}",
            subcategory="all metrics",
            labels={"table": "correlations, Holm-corrected"},
        ),
        markdown="results/tables/{exp}/correlations.md",
        latex="results/tables/{exp}/correlations.tex",
        png=report(
            "results/plots/{exp}/alignment_vs_performance_by_metric.png",
            caption="../report/metrics_plot.rst",
            category="{exp}",
            subcategory="all metrics",
            labels={"figure": "alignment vs performance, by metric"},
        ),
        pdf="results/plots/{exp}/alignment_vs_performance_by_metric.pdf",
    params:
        metrics=lambda wildcards: experiment_metrics(wildcards.exp),
        target=lambda wildcards: analysis_params(config, wildcards.exp)["target"],
    log:
        "logs/compare_metrics/{exp}.log",
    localrule: True
    conda:
        "../../envs/dataalign.yaml"
    script:
        "../scripts/compare_metrics.py"
