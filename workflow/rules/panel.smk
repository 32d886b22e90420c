# Panel: validate a candidate dataset by how a panel of models scores on it versus on benchmarks.


# One job per panel member: it loads the model once and scores every dataset any panel asks of
# it (a 7B model is not reloaded per dataset).
rule score_panel:
    input:
        unpack(panel_scoring_inputs),
    output:
        scores="results/panel/{model}/scores-{digest}.parquet",
    params:
        scoring=lambda wildcards: PANEL_SCORINGS[wildcards.model].params,
    log:
        "logs/score_panel/{model}/{digest}.log",
    benchmark:
        "results/benchmarks/score_panel/{model}/{digest}.tsv"
    threads: threads_for("score_panel", 2)
    resources:
        gpu=GPUS,
        mem_mb=sized("score_panel", "mem_mb"),
        runtime=sized("score_panel", "runtime"),
    conda:
        "../../envs/dataalign.yaml"
    script:
        "../scripts/score_panel.py"


# Benchmark accuracy from lm-evaluation-harness, one job (one model load) per member and setting.
rule lm_eval:
    input:
        unpack(trained_weights),
    output:
        results="results/panel/{model}/lm_eval-{digest}.json",
    params:
        run=lambda wildcards: HARNESS_RUNS[(wildcards.model, wildcards.digest)].params,
    log:
        "logs/lm_eval/{model}/{digest}.log",
    benchmark:
        "results/benchmarks/lm_eval/{model}/{digest}.tsv"
    threads: threads_for("lm_eval", 2)
    resources:
        gpu=GPUS,
        mem_mb=sized("lm_eval", "mem_mb"),
        runtime=sized("lm_eval", "runtime"),
    conda:
        "../../envs/dataalign.yaml"
    script:
        "../scripts/lm_eval.py"


rule correlate_panel:
    input:
        unpack(panel_results),
    output:
        csv=report(
            "results/tables/{exp}/panel_correlation.csv",
            caption="../report/panel_table.rst",
            category="{exp}",
            labels={"table": "panel correlation"},
        ),
        markdown="results/tables/{exp}/panel_correlation.md",
        latex="results/tables/{exp}/panel_correlation.tex",
        totals=report(
            "results/tables/{exp}/panel_scores.csv",
            caption="../report/panel_scores.rst",
            category="{exp}",
            labels={"table": "panel scores"},
        ),
        examples=report(
            "results/tables/{exp}/panel_examples.csv",
            caption="../report/panel_examples.rst",
            category="{exp}",
            labels={"table": "example-level signal"},
        ),
        png=report(
            "results/plots/{exp}/panel.png",
            caption="../report/panel_plot.rst",
            category="{exp}",
            labels={"figure": "panel"},
        ),
        pdf="results/plots/{exp}/panel.pdf",
    params:
        panel=lambda wildcards: panel_params(config, wildcards.exp),
        requests=lambda wildcards: [r["request"] for r in panel_requests(config, wildcards.exp)],
    log:
        "logs/correlate_panel/{exp}.log",
    localrule: True
    conda:
        "../../envs/dataalign.yaml"
    script:
        "../scripts/correlate_panel.py"
