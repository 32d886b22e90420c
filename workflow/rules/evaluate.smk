# Evaluation: cross-entropy and perplexity (Appendix C) of one model, trained or an experiment's
# base model, on one benchmark subset; shared by every experiment that asks for it.


rule evaluate:
    input:
        unpack(PLAN.evaluation_inputs),
    output:
        scores=paths.EVALUATION,
    wildcard_constraints:
        evaluation=one_of(PLAN.evaluations),
    params:
        evaluation=lambda wildcards: PLAN.evaluation(wildcards).params,
    log:
        paths.log("evaluate", "{evaluation}"),
    benchmark:
        paths.benchmark("evaluate", "{evaluation}")
    threads: threads_for(PLAN.evaluation_workload, 2)
    resources:
        **gpu_job(PLAN.evaluation_workload),
    conda:
        "../../envs/dataalign.yaml"
    script:
        "../scripts/evaluate.py"
