# Training: one model per (experiment, train set, seed), fine-tuned or pre-trained from scratch.
# Both rules run the same code; they differ in which experiments they serve and what they ask
# of a cluster. Checkpoints live in results/checkpoints/ (outside the outputs) for resume.


rule finetune:
    input:
        subset=training_subset,
    output:
        weights="results/models/{exp}/{train}-{seed}/model.safetensors",
        config="results/models/{exp}/{train}-{seed}/config.json",
        log="results/models/{exp}/{train}-{seed}/train_log.parquet",
    wildcard_constraints:
        exp=kind_pattern("finetune"),
    params:
        training=training_params,
        checkpoints=checkpoint_dir,
    log:
        "logs/finetune/{exp}/{train}-{seed}.log",
    benchmark:
        "results/benchmarks/finetune/{exp}/{train}-{seed}.tsv"
    threads: 2
    resources:
        gpu=1,
        mem_mb=16000,
        runtime=120,
    conda:
        "../../envs/dataalign.yaml"
    script:
        "../scripts/train.py"


rule pretrain:
    input:
        subset=training_subset,
    output:
        weights="results/models/{exp}/{train}-{seed}/model.safetensors",
        config="results/models/{exp}/{train}-{seed}/config.json",
        log="results/models/{exp}/{train}-{seed}/train_log.parquet",
    wildcard_constraints:
        exp=kind_pattern("pretrain"),
    params:
        training=training_params,
        checkpoints=checkpoint_dir,
    log:
        "logs/pretrain/{exp}/{train}-{seed}.log",
    benchmark:
        "results/benchmarks/pretrain/{exp}/{train}-{seed}.tsv"
    threads: 4
    resources:
        gpu=1,
        mem_mb=32000,
        runtime=2880,
    conda:
        "../../envs/dataalign.yaml"
    script:
        "../scripts/train.py"
