# Selection: choose a pool's examples for a target under a token budget, one strategy at a time.
# Each pool example is scored once per strategy (the costly step, the same for every seed; random,
# DSIR, GZIP and perplexity correlations on CPUs, SBERT and Task2Vec with a model); each
# seed's choice is then an ordinary subset, which the training, evaluation and alignment rules
# take like any other train set.


rule score_pool:
    input:
        unpack(pool_score_inputs),
    output:
        scores="results/selection/{exp}/{strategy}/scores.parquet",
        report="results/selection/{exp}/{strategy}/scores.json",
    wildcard_constraints:
        strategy=one_of(strategies_on(gpu=False)),
    params:
        selection=lambda wildcards: selection_params(config, wildcards.exp, wildcards.strategy),
    log:
        "logs/score_pool/{exp}/{strategy}.log",
    benchmark:
        "results/benchmarks/score_pool/{exp}/{strategy}.tsv"
    threads: 2
    resources:
        mem_mb=4000,
    conda:
        "../../envs/dataalign.yaml"
    script:
        "../scripts/score_pool.py"


# SBERT and Task2Vec score the pool with a model: a GPU job.
use rule score_pool as embed_pool with:
    output:
        scores="results/selection/{exp}/{strategy}/scores.parquet",
        report="results/selection/{exp}/{strategy}/scores.json",
    wildcard_constraints:
        strategy=one_of(strategies_on(gpu=True)),
    log:
        "logs/embed_pool/{exp}/{strategy}.log",
    benchmark:
        "results/benchmarks/embed_pool/{exp}/{strategy}.tsv"
    threads: threads_for("embed_pool", 2)
    resources:
        gpu=GPUS,
        mem_mb=sized("embed_pool", "mem_mb"),
        runtime=sized("embed_pool", "runtime"),


rule select:
    input:
        unpack(choice_inputs),
    output:
        subset="results/subsets/{tokenizer}/{exp}.{strategy}/{budget}-{seed}.parquet",
        tokens="results/subsets/{tokenizer}/{exp}.{strategy}/{budget}-{seed}.tokens.npy",
        report="results/subsets/{tokenizer}/{exp}.{strategy}/{budget}-{seed}.choice.json",
    wildcard_constraints:
        exp=one_of(experiments_of_kind(config, "select")),
        strategy=one_of(sorted({s.strategy for s in SELECTIONS.values()})),
    params:
        choice=lambda wildcards: choice_params(config, wildcards.exp, wildcards.strategy),
    log:
        "logs/select/{tokenizer}/{exp}.{strategy}/{budget}-{seed}.log",
    resources:
        mem_mb=4000,
    retries: 0  # a choice that cannot be made from this pool fails the same way every time
    conda:
        "../../envs/dataalign.yaml"
    script:
        "../scripts/select.py"


rule selection_table:
    input:
        unpack(selection_summary_inputs),
    output:
        csv=report(
            "results/tables/{exp}/selection.csv",
            caption="../report/selection_table.rst",
            category="{exp}",
            labels={"table": "selection"},
        ),
        markdown="results/tables/{exp}/selection.md",
        latex="results/tables/{exp}/selection.tex",
        png=report(
            "results/plots/{exp}/selection.png",
            caption="../report/selection_plot.rst",
            category="{exp}",
            labels={"figure": "benchmark loss by strategy"},
        ),
        pdf="results/plots/{exp}/selection.pdf",
    params:
        strategies=lambda wildcards: list(config["experiments"][wildcards.exp]["strategies"]),
        target=lambda wildcards: analysis_params(config, wildcards.exp)["target"],
    log:
        "logs/selection_table/{exp}.log",
    localrule: True
    conda:
        "../../envs/dataalign.yaml"
    script:
        "../scripts/selection_table.py"
