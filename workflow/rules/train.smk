# Training: one job per distinct model (base model, training options, subset), however many
# experiments use it. Fine-tuning and pre-training from scratch run the same code; they differ in
# what they ask of a cluster. `pretrain` trains models built from an `architecture:`, `finetune`
# models that start from pretrained weights. Checkpoints live in results/checkpoints/{run}/,
# owned by that job.


rule finetune:
    input:
        unpack(training_inputs),
    output:
        weights="results/models/{run}/model.safetensors",
        config="results/models/{run}/config.json",
        log="results/models/{run}/train_log.parquet",
    wildcard_constraints:
        run=training_runs_pattern(from_scratch=False),
    params:
        training=lambda wildcards: TRAININGS[wildcards.run].params,
        checkpoints="results/checkpoints/{run}",
    log:
        "logs/finetune/{run}.log",
    benchmark:
        "results/benchmarks/finetune/{run}.tsv"
    threads: threads_for("train", 2)
    resources:
        gpu=GPUS,
        mem_mb=sized("train", "mem_mb"),
        runtime=sized("train", "runtime"),
    conda:
        "../../envs/dataalign.yaml"
    script:
        "../scripts/train.py"


rule pretrain:
    input:
        unpack(training_inputs),
    output:
        weights="results/models/{run}/model.safetensors",
        config="results/models/{run}/config.json",
        log="results/models/{run}/train_log.parquet",
    wildcard_constraints:
        run=training_runs_pattern(from_scratch=True),
    params:
        training=lambda wildcards: TRAININGS[wildcards.run].params,
        checkpoints="results/checkpoints/{run}",
    log:
        "logs/pretrain/{run}.log",
    benchmark:
        "results/benchmarks/pretrain/{run}.tsv"
    threads: threads_for("train", 4)
    resources:
        gpu=GPUS,
        mem_mb=sized("train", "mem_mb"),
        runtime=sized("train", "runtime"),
    conda:
        "../../envs/dataalign.yaml"
    script:
        "../scripts/train.py"
