# Selection: choose a pool's examples for a target under a token budget, one strategy at a time.
# Each pool example is scored once per strategy (the costly step, the same for every seed; random,
# DSIR, GZIP and perplexity correlations on CPUs, SBERT and Task2Vec with a model); each
# seed's choice is then an ordinary subset, which the training, evaluation and alignment rules
# take like any other train set.


rule score_pool:
    input:
        unpack(PLAN.pool_score_inputs),
    output:
        scores=paths.POOL_SCORES,
        report=paths.POOL_REPORT,
    wildcard_constraints:
        strategy=one_of(PLAN.strategies_on(gpu=False)),
    params:
        selection=lambda wildcards: slices.selection_params(
            config, wildcards.exp, wildcards.strategy
        ),
    log:
        paths.log("score_pool", "{exp}/{strategy}"),
    benchmark:
        paths.benchmark("score_pool", "{exp}/{strategy}")
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
        scores=paths.POOL_SCORES,
        report=paths.POOL_REPORT,
    wildcard_constraints:
        strategy=one_of(PLAN.strategies_on(gpu=True)),
    log:
        paths.log("embed_pool", "{exp}/{strategy}"),
    benchmark:
        paths.benchmark("embed_pool", "{exp}/{strategy}")
    threads: threads_for(PLAN.pool_embed_workload, 2)
    resources:
        **gpu_job(PLAN.pool_embed_workload),


rule select:
    input:
        unpack(PLAN.choice_inputs),
    output:
        subset=paths.fill(paths.SUBSET, ds=paths.SELECTED),
        tokens=paths.fill(paths.SUBSET_TOKENS, ds=paths.SELECTED),
        report=paths.fill(paths.CHOICE, ds=paths.SELECTED),
    wildcard_constraints:
        exp=one_of(lookup.experiments_of_kind(config, "select")),
        strategy=one_of(sorted({s.strategy for s in PLAN.selections.values()})),
    params:
        choice=lambda wildcards: slices.choice_params(config, wildcards.exp, wildcards.strategy),
    log:
        paths.log("select", paths.fill(paths.SUBSET_KEY, ds=paths.SELECTED)),
    resources:
        mem_mb=4000,
    retries: 0  # a choice that cannot be made from this pool fails the same way every time
    conda:
        "../../envs/dataalign.yaml"
    script:
        "../scripts/select.py"


rule selection_table:
    input:
        unpack(PLAN.selection_summary_inputs),
    output:
        csv=report(
            paths.table("selection"),
            caption="../report/selection_table.rst",
            category="{exp}",
            labels={"table": "selection"},
        ),
        markdown=paths.table("selection", "md"),
        latex=paths.table("selection", "tex"),
        png=report(
            paths.plot("selection"),
            caption="../report/selection_plot.rst",
            category="{exp}",
            labels={"figure": "benchmark loss by strategy"},
        ),
        pdf=paths.plot("selection", "pdf"),
    params:
        strategies=lambda wildcards: list(config["experiments"][wildcards.exp]["strategies"]),
        target=lambda wildcards: slices.analysis_params(config, wildcards.exp)["target"],
    log:
        paths.log("selection_table", "{exp}"),
    localrule: True
    conda:
        "../../envs/dataalign.yaml"
    script:
        "../scripts/selection_table.py"


rule selection_study:
    input:
        unpack(PLAN.selection_study_inputs),
    output:
        csv=report(
            paths.table("selection_study"),
            caption="../report/selection_study.rst",
            category="{exp}",
            labels={"table": "selection study"},
        ),
        markdown=paths.table("selection_study", "md"),
    wildcard_constraints:
        exp=one_of(list(config["selection_studies"])),
    params:
        experiments=lambda wildcards: config["selection_studies"][wildcards.exp],
    log:
        paths.log("selection_study", "{exp}"),
    benchmark:
        paths.benchmark("selection_study", "{exp}")
    localrule: True
    conda:
        "../../envs/dataalign.yaml"
    script:
        "../scripts/selection_study.py"
