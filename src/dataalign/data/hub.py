"""Whether the Hugging Face Hub may be asked for rows, and what it left on this machine: read
from the environment and the caches' folders, never from the network."""

from __future__ import annotations

import os
from pathlib import Path


def hub_offline() -> str | None:
    """The variable (HF_HUB_OFFLINE or HF_DATASETS_OFFLINE) that forbids Hub downloads, if one
    is set (to 1, ON, YES or TRUE, as huggingface_hub reads it)."""
    names = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")
    return next(
        (n for n in names if os.environ.get(n, "").upper() in ("1", "ON", "YES", "TRUE")), None
    )


def hub_cached(hub_id: str) -> bool:
    """Whether a Hub dataset left files in the caches that offline loading reads (the Hub's
    `datasets--org--name`, or the datasets library's `org___name`)."""
    from datasets import config as datasets_config
    from huggingface_hub import constants

    if (Path(constants.HF_HUB_CACHE) / f"datasets--{hub_id.replace('/', '--')}").is_dir():
        return True
    cache, name = Path(datasets_config.HF_DATASETS_CACHE), hub_id.replace("/", "___").lower()
    return cache.is_dir() and any(entry.name.lower() == name for entry in cache.iterdir())
