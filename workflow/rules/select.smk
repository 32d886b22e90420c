# Selection: choose a pool's examples for a target under a token budget, one strategy at a time.
# The pool is read in shards (consecutive runs of its rows, `shards:` jobs): each shard is scanned
# once (token counts, held-out examples), then scored once per strategy (the costly, seed-free
# step; random, DSIR, GZIP, n-gram and perplexity correlations on CPUs, SBERT, Task2Vec and
# gradients with a model); DSIR and n-gram first sum the pool's n-gram counts shard by shard,
# classifier and BETR draw their pool sample.
# Each seed's choice streams the shards' scores into an ordinary subset, which the training,
# evaluation and alignment rules take like any other train set.


rule scan_pool:
    input:
        unpack(PLAN.pool_scan_inputs),
    output:
        index=paths.POOL_INDEX,
        report=paths.POOL_INDEX_REPORT,
    params:
        scan=lambda wildcards: slices.scan_params(config, wildcards.exp, int(wildcards.shard)),
    log:
        paths.log("scan_pool", paths.SHARD_KEY),
    benchmark:
        paths.benchmark("scan_pool", paths.SHARD_KEY)
    resources:
        mem_mb=2000,
    conda:
        "../../envs/dataalign.yaml"
    script:
        "../scripts/scan_pool.py"


rule pool_statistic:
    input:
        unpack(PLAN.pool_statistic_inputs),
    output:
        statistic=paths.POOL_STATISTIC,
        report=paths.POOL_STATISTIC_REPORT,
        features=temp(paths.POOL_FEATURES),
    wildcard_constraints:
        strategy=one_of(PLAN.strategies_with_statistic()),
    params:
        selection=lambda wildcards: slices.statistic_params(
            config, wildcards.exp, wildcards.strategy, int(wildcards.shard)
        ),
    log:
        paths.log("pool_statistic", paths.STRATEGY_SHARD_KEY),
    benchmark:
        paths.benchmark("pool_statistic", paths.STRATEGY_SHARD_KEY)
    resources:
        mem_mb=2000,
    conda:
        "../../envs/dataalign.yaml"
    script:
        "../scripts/pool_statistic.py"


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
            config, wildcards.exp, wildcards.strategy, int(wildcards.shard)
        ),
    log:
        paths.log("score_pool", paths.STRATEGY_SHARD_KEY),
    benchmark:
        paths.benchmark("score_pool", paths.STRATEGY_SHARD_KEY)
    threads: 2
    resources:
        mem_mb=4000,
    conda:
        "../../envs/dataalign.yaml"
    script:
        "../scripts/score_pool.py"


# SBERT, Task2Vec and gradients score the pool with a model: a GPU job.
use rule score_pool as embed_pool with:
    output:
        scores=paths.POOL_SCORES,
        report=paths.POOL_REPORT,
    wildcard_constraints:
        strategy=one_of(PLAN.strategies_on(gpu=True)),
    log:
        paths.log("embed_pool", paths.STRATEGY_SHARD_KEY),
    benchmark:
        paths.benchmark("embed_pool", paths.STRATEGY_SHARD_KEY)
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
        exp=one_of(sorted({s.owner for s in PLAN.selections.values()})),
        strategy=one_of(sorted({s.strategy for s in PLAN.selections.values()})),
    params:
        choice=lambda wildcards: slices.choice_params(
            config, PLAN.chosen(wildcards).experiment, wildcards.strategy
        ),
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
        parquet=paths.table("selection", "parquet"),  # what selection_study reads
        png=report(
            paths.plot("selection"),
            caption="../report/selection_plot.rst",
            category="{exp}",
            labels={"figure": "benchmark loss by strategy"},
        ),
        pdf=paths.plot("selection", "pdf"),
    params:
        table=lambda wildcards: slices.selection_table_params(config, wildcards.exp),
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
        png=report(
            paths.plot("selection_study"),
            caption="../report/selection_study_plot.rst",
            category="{exp}",
            labels={"figure": "selection study: loss against random"},
        ),
        pdf=paths.plot("selection_study", "pdf"),
    wildcard_constraints:
        exp=one_of(list(config["selection_studies"])),
    params:
        experiments=lambda wildcards: slices.study_params(config, wildcards.exp),
    log:
        paths.log("selection_study", "{exp}"),
    benchmark:
        paths.benchmark("selection_study", "{exp}")
    localrule: True
    conda:
        "../../envs/dataalign.yaml"
    script:
        "../scripts/selection_study.py"
