# Evaluation: cross-entropy and perplexity (Appendix C) of each trained model, and of the base
# model, on each benchmark of its experiment.


rule evaluate:
    input:
        unpack(evaluation_inputs),
    output:
        scores="results/eval/{exp}/{train}__{eval}.parquet",
    params:
        evaluation=evaluation_params,
    log:
        "logs/evaluate/{exp}/{train}__{eval}.log",
    benchmark:
        "results/benchmarks/evaluate/{exp}/{train}__{eval}.tsv"
    threads: 2
    resources:
        gpu=1,
        mem_mb=16000,
        runtime=60,
    conda:
        "../../envs/dataalign.yaml"
    script:
        "../scripts/evaluate.py"
