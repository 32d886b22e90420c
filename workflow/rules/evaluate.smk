# Evaluation: cross-entropy and perplexity (Appendix C) of one model, trained or an experiment's
# base model, on one benchmark subset; shared by every experiment that asks for it.


rule evaluate:
    input:
        unpack(evaluation_inputs),
    output:
        scores="results/eval/{evaluation}.parquet",
    wildcard_constraints:
        evaluation=evaluation_pattern(),
    params:
        evaluation=lambda wildcards: evaluation_of(wildcards).params,
    log:
        "logs/evaluate/{evaluation}.log",
    benchmark:
        "results/benchmarks/evaluate/{evaluation}.tsv"
    threads: threads_for("evaluate", 2)
    resources:
        gpu=GPUS,
        mem_mb=sized("evaluate", "mem_mb"),
        runtime=sized("evaluate", "runtime"),
    conda:
        "../../envs/dataalign.yaml"
    script:
        "../scripts/evaluate.py"
