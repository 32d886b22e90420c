# Analysis: does alignment predict performance? One fit, table and figure per experiment and metric.


rule correlate:
    input:
        alignments=alignment_pairs,
        evaluations=lambda wildcards: experiment_evaluations(wildcards.exp),
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
