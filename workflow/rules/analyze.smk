# Analysis: does alignment predict performance? One fit, table and figure per experiment and metric.


rule correlate:
    input:
        alignments=alignment_pairs,
        evaluations=lambda wildcards: experiment_evaluations(wildcards.exp),
    output:
        csv="results/tables/{exp}/correlation_{metric}.csv",
        markdown="results/tables/{exp}/correlation_{metric}.md",
        latex="results/tables/{exp}/correlation_{metric}.tex",
        points="results/tables/{exp}/points_{metric}.csv",
        png="results/plots/{exp}/alignment_vs_performance_{metric}.png",
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
