# Datasets: download (or read) rows once, then cut token-budget subsets for each tokenizer.


# From the Hub: a failure may be the network, so the job is retried (not with HF_HUB_OFFLINE).
rule download_dataset:
    input:
        local=PLAN.local_source,
    output:
        rows=paths.ROWS,
    wildcard_constraints:
        ds=one_of(PLAN.hub_datasets),
    params:
        dataset=lambda wildcards: slices.download_params(config, wildcards.ds),
        # reruns the download (and what uses it) when the content changes but the config does not
        fingerprint=lambda wildcards: source_fingerprint(slices.download_params(config, wildcards.ds)),
    log:
        paths.log("download_dataset", "{ds}"),
    benchmark:
        paths.benchmark("download_dataset", "{ds}")
    retries: 0 if HUB_OFFLINE else 3
    localrule: True
    conda:
        "../../envs/dataalign.yaml"
    script:
        "../scripts/download_dataset.py"


# From a local file or an installed corpus: a failure is the data, so retrying cannot help.
use rule download_dataset as read_dataset with:
    output:
        rows=paths.ROWS,
    wildcard_constraints:
        ds=one_of(PLAN.offline_datasets),
    log:
        paths.log("read_dataset", "{ds}"),
    benchmark:
        paths.benchmark("read_dataset", "{ds}")
    retries: 0
    localrule: True


rule subset:
    input:
        unpack(PLAN.subset_inputs),
    output:
        subset=paths.SUBSET,
        tokens=paths.SUBSET_TOKENS,
    wildcard_constraints:
        ds=one_of(config["datasets"]),
    params:
        parts=lambda wildcards: slices.subset_params(config, wildcards.ds),
        tokenizer=lambda wildcards: slices.tokenizer_params(config, wildcards.tokenizer),
    log:
        paths.log("subset", paths.SUBSET_KEY),
    benchmark:
        paths.benchmark("subset", paths.SUBSET_KEY)
    resources:
        mem_mb=4000,
    retries: 0  # a draw that cannot be made from these rows fails the same way every time
    conda:
        "../../envs/dataalign.yaml"
    script:
        "../scripts/subset.py"
