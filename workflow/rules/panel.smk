# Panel: validate a candidate dataset by how a panel of models scores on it versus on benchmarks.


# One job per panel member: it loads the model once and scores every dataset any panel asks of
# it (a 7B model is not reloaded per dataset).
rule score_panel:
    input:
        unpack(PLAN.panel_scoring_inputs),
    output:
        scores=paths.PANEL_SCORES,
    params:
        scoring=lambda wildcards: PLAN.panel_scorings[wildcards.model].params,
    log:
        paths.log("score_panel", paths.MEMBER_KEY),
    benchmark:
        paths.benchmark("score_panel", paths.MEMBER_KEY)
    threads: threads_for(PLAN.member_workload, 2)
    resources:
        **gpu_job(PLAN.member_workload),
    conda:
        "../../envs/dataalign.yaml"
    script:
        "../scripts/score_panel.py"


# Benchmark accuracy from lm-evaluation-harness, one job (one model load) per member and setting.
rule lm_eval:
    input:
        unpack(PLAN.trained_weights),
    output:
        results=paths.LM_EVAL,
    params:
        run=lambda wildcards: PLAN.harness_runs[(wildcards.model, wildcards.digest)].params,
    log:
        paths.log("lm_eval", paths.MEMBER_KEY),
    benchmark:
        paths.benchmark("lm_eval", paths.MEMBER_KEY)
    threads: threads_for(PLAN.member_workload, 2)
    resources:
        **gpu_job(PLAN.member_workload),
    conda:
        "../../envs/dataalign.yaml"
    script:
        "../scripts/lm_eval.py"


rule correlate_panel:
    input:
        unpack(PLAN.panel_results),
    output:
        csv=report(
            paths.table("panel_correlation"),
            caption="../report/panel_table.rst",
            category="{exp}",
            labels={"table": "panel correlation"},
        ),
        markdown=paths.table("panel_correlation", "md"),
        latex=paths.table("panel_correlation", "tex"),
        totals=report(
            paths.table("panel_scores"),
            caption="../report/panel_scores.rst",
            category="{exp}",
            labels={"table": "panel scores"},
        ),
        examples=report(
            paths.table("panel_examples"),
            caption="../report/panel_examples.rst",
            category="{exp}",
            labels={"table": "example-level signal"},
        ),
        support=report(
            paths.table("panel_support"),
            caption="../report/panel_support.rst",
            category="{exp}",
            labels={"table": "question support flags"},
        ),
        png=report(
            paths.plot("panel"),
            caption="../report/panel_plot.rst",
            category="{exp}",
            labels={"figure": "panel"},
        ),
        pdf=paths.plot("panel", "pdf"),
    params:
        panel=lambda wildcards: slices.panel_params(config, wildcards.exp),
    log:
        paths.log("correlate_panel", "{exp}"),
    localrule: True
    conda:
        "../../envs/dataalign.yaml"
    script:
        "../scripts/correlate_panel.py"
