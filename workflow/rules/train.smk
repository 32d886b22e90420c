# Training: one job per distinct model (base model, training options, subset), however many
# experiments use it. Fine-tuning and pre-training from scratch run the same code; they differ in
# what they ask of a cluster. `pretrain` trains models built from an `architecture:`, `finetune`
# models that start from pretrained weights. Checkpoints live in their own folder per model,
# owned by that job.


rule finetune:
    input:
        unpack(PLAN.training_inputs),
    output:
        weights=paths.MODEL_WEIGHTS,
        config=paths.MODEL_CONFIG,
        log=paths.TRAIN_LOG,
    wildcard_constraints:
        run=one_of(PLAN.training_names(from_scratch=False)),
    params:
        training=lambda wildcards: PLAN.trainings[wildcards.run].params,
        checkpoints=paths.CHECKPOINTS,
        report_to=slices.report_to(config),
    log:
        paths.log("finetune", "{run}"),
    benchmark:
        paths.benchmark("finetune", "{run}")
    threads: threads_for(PLAN.training_workload, 2)
    resources:
        **gpu_job(PLAN.training_workload),
    conda:
        "../../envs/dataalign.yaml"
    script:
        "../scripts/train.py"


use rule finetune as pretrain with:
    wildcard_constraints:
        run=one_of(PLAN.training_names(from_scratch=True)),
    log:
        paths.log("pretrain", "{run}"),
    benchmark:
        paths.benchmark("pretrain", "{run}")
    threads: threads_for(PLAN.training_workload, 4)


rule training_curves:
    input:
        lambda wildcards: [log for _, log in PLAN.training_logs(wildcards.exp)],
    output:
        png=report(
            paths.plot("training_curves"),
            caption="../report/training_curves.rst",
            category="{exp}",
            subcategory="training",
            labels={"figure": "training curves"},
        ),
        pdf=paths.plot("training_curves", "pdf"),
    params:
        runs=lambda wildcards: [labels for labels, _ in PLAN.training_logs(wildcards.exp)],
    log:
        paths.log("training_curves", "{exp}"),
    localrule: True
    conda:
        "../../envs/dataalign.yaml"
    script:
        "../scripts/training_curves.py"
