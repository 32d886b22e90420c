# Datasets: download (or read) rows once, then cut token-budget subsets for each tokenizer.


# From the Hub: a failure may be the network, so the job is retried.
rule download_dataset:
    input:
        local=local_source,
    output:
        rows="resources/datasets/{ds}.parquet",
    wildcard_constraints:
        ds=one_of(HUB_DATASETS),
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


# From a local file or an installed corpus: a failure is the data, so retrying cannot help.
use rule download_dataset as read_dataset with:
    output:
        rows="resources/datasets/{ds}.parquet",
    wildcard_constraints:
        ds=one_of(OFFLINE_DATASETS),
    log:
        "logs/read_dataset/{ds}.log",
    retries: 0
    localrule: True


rule subset:
    input:
        unpack(subset_rows),
    output:
        subset="results/subsets/{tokenizer}/{ds}/{budget}-{seed}.parquet",
        tokens="results/subsets/{tokenizer}/{ds}/{budget}-{seed}.tokens.npy",
    wildcard_constraints:
        ds=one_of(config["datasets"]),
    params:
        parts=lambda wildcards: subset_parts(config, wildcards.ds),
        tokenizer=lambda wildcards: config["models"][wildcards.tokenizer],
    log:
        "logs/subset/{tokenizer}/{ds}/{budget}-{seed}.log",
    benchmark:
        "results/benchmarks/subset/{tokenizer}/{ds}/{budget}-{seed}.tsv"
    resources:
        mem_mb=4000,
    retries: 0  # a draw that cannot be made from these rows fails the same way every time
    conda:
        "../../envs/dataalign.yaml"
    script:
        "../scripts/subset.py"
