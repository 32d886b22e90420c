# Alignment: embed each subset once per metric, then combine train x eval pairs cheaply.


# Metrics that embed with a model (Task2Vec, SBERT) are GPU jobs; the others (GZIP compresses,
# n-gram hashes each example) are CPU jobs.
rule embed:
    input:
        subset=paths.SUBSET,
    output:
        embedding=paths.EMBEDDING,
    wildcard_constraints:
        metric=one_of(PLAN.metrics_on(gpu=True)),
    params:
        settings=lambda wildcards: slices.embed_settings(config, wildcards.metric),
    log:
        paths.log("embed", paths.EMBEDDING_KEY),
    benchmark:
        paths.benchmark("embed", paths.EMBEDDING_KEY)
    threads: threads_for(PLAN.embed_workload, 2)
    resources:
        **gpu_job(PLAN.embed_workload),
    conda:
        "../../envs/dataalign.yaml"
    script:
        "../scripts/embed.py"


use rule embed as featurize with:
    output:
        embedding=paths.EMBEDDING,
    wildcard_constraints:
        metric=one_of(PLAN.metrics_on(gpu=False)),
    log:
        paths.log("featurize", paths.EMBEDDING_KEY),
    benchmark:
        paths.benchmark("featurize", paths.EMBEDDING_KEY)
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,


rule align:
    input:
        unpack(PLAN.alignment_inputs),
    output:
        alignment=paths.ALIGNMENT,
    params:
        settings=lambda wildcards: slices.align_settings(config, wildcards.metric),
    log:
        paths.log("align", paths.PAIR_KEY),
    benchmark:
        paths.benchmark("align", paths.PAIR_KEY)
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
        lambda wildcards: PLAN.alignment_pairs(wildcards.exp, [wildcards.metric]),
    output:
        csv=report(
            paths.table("alignment_{metric}"),
            caption="../report/alignment_table.rst",
            category="{exp}",
            subcategory="{metric}",
            labels={"table": "alignment"},
        ),
        markdown=paths.table("alignment_{metric}", "md"),
    log:
        paths.log("alignment_table", "{exp}/{metric}"),
    localrule: True
    conda:
        "../../envs/dataalign.yaml"
    script:
        "../scripts/alignment_table.py"


rule ranking:
    input:
        lambda wildcards: PLAN.alignment_pairs(wildcards.exp, metrics_of(wildcards)),
    output:
        csv=report(
            paths.table("ranking"),
            caption="../report/ranking_table.rst",
            category="{exp}",
            subcategory="ranking",
            labels={"table": "ranking"},
        ),
        markdown=paths.table("ranking", "md"),
    log:
        paths.log("ranking", "{exp}"),
    localrule: True
    conda:
        "../../envs/dataalign.yaml"
    script:
        "../scripts/ranking.py"
