# Alignment: embed each subset once per metric, then combine train x eval pairs cheaply.


# Task2Vec and SBERT run a model (a GPU job); GZIP compresses and n-gram hashes each example (a
# CPU job).
rule embed:
    input:
        subset="results/subsets/{tokenizer}/{ds}/{budget}-{seed}.parquet",
    output:
        embedding="results/embeddings/{metric}/{tokenizer}/{ds}/{budget}-{seed}.parquet",
    wildcard_constraints:
        metric="task2vec|sbert",
    params:
        settings=lambda wildcards: embed_settings(config, wildcards.metric),
    log:
        "logs/embed/{metric}/{tokenizer}/{ds}/{budget}-{seed}.log",
    benchmark:
        "results/benchmarks/embed/{metric}/{tokenizer}/{ds}/{budget}-{seed}.tsv"
    threads: threads_for("embed", 2)
    resources:
        gpu=GPUS,
        mem_mb=sized("embed", "mem_mb"),
        runtime=sized("embed", "runtime"),
    conda:
        "../../envs/dataalign.yaml"
    script:
        "../scripts/embed.py"


use rule embed as compress with:
    output:
        embedding="results/embeddings/{metric}/{tokenizer}/{ds}/{budget}-{seed}.parquet",
    wildcard_constraints:
        metric="gzip|ngram",
    log:
        "logs/compress/{metric}/{tokenizer}/{ds}/{budget}-{seed}.log",
    benchmark:
        "results/benchmarks/compress/{metric}/{tokenizer}/{ds}/{budget}-{seed}.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,


rule align:
    input:
        unpack(alignment_inputs),
    output:
        alignment="results/alignment/{exp}/{metric}/{train}__{eval}.parquet",
    params:
        settings=lambda wildcards: align_settings(config, wildcards.metric),
    log:
        "logs/align/{exp}/{metric}/{train}__{eval}.log",
    threads: 2
    # Seconds of numpy on cached embeddings: run on the submit host rather than queue one Slurm
    # job per pair (a job group would instead request the sum of its members' CPUs on one node).
    localrule: True
    conda:
        "../../envs/dataalign.yaml"
    script:
        "../scripts/align.py"


rule alignment_table:
    input:
        alignment_pairs,
    output:
        csv=report(
            "results/tables/{exp}/alignment_{metric}.csv",
            caption="../report/alignment_table.rst",
            category="{exp}",
            subcategory="{metric}",
            labels={"table": "alignment"},
        ),
        markdown="results/tables/{exp}/alignment_{metric}.md",
    log:
        "logs/alignment_table/{exp}/{metric}.log",
    localrule: True
    conda:
        "../../envs/dataalign.yaml"
    script:
        "../scripts/alignment_table.py"
