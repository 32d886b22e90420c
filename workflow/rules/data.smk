# Datasets: download (or read) rows once, then cut token-budget subsets for each tokenizer.


rule download_dataset:
    input:
        local=local_source,
    output:
        rows="resources/datasets/{ds}.parquet",
    params:
        dataset=download_params,
        # reruns the download (and what uses it) when the content changes but the config does not
        fingerprint=lambda wildcards: source_fingerprint(download_params(wildcards)),
    log:
        "logs/download_dataset/{ds}.log",
    retries: 3
    localrule: True
    conda:
        "../../envs/dataalign.yaml"
    script:
        "../scripts/download_dataset.py"


rule subset:
    input:
        unpack(subset_rows),
    output:
        subset="results/subsets/{tokenizer}/{ds}/{budget}-{seed}.parquet",
        tokens="results/subsets/{tokenizer}/{ds}/{budget}-{seed}.tokens.npy",
    params:
        parts=lambda wildcards: subset_parts(config, wildcards.ds),
        tokenizer=lambda wildcards: config["models"][wildcards.tokenizer],
    log:
        "logs/subset/{tokenizer}/{ds}/{budget}-{seed}.log",
    benchmark:
        "results/benchmarks/subset/{tokenizer}/{ds}/{budget}-{seed}.tsv"
    resources:
        mem_mb=4000,
    conda:
        "../../envs/dataalign.yaml"
    script:
        "../scripts/subset.py"
