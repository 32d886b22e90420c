"""The house's shape: import layers kept (pyproject's import-linter contracts), no torch behind
`snakemake -n`, and modules short enough to read."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from helpers import REPO

MAX_LINES = 450


def test_the_import_contracts_are_kept():
    """In a process of its own (import-linter reconfigures logging): the contracts are
    pyproject.toml's."""
    linter = Path(sys.executable).with_name("lint-imports")
    checked = subprocess.run(
        [linter, "--no-cache", "--no-logo"], cwd=REPO, capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout[-3000:]


def test_the_plan_imports_no_torch():
    """Parsing the workflow imports the plan; torch would add seconds to every dry-run."""
    code = "import sys, dataalign.plan, dataalign.plan.checks; print('torch' in sys.modules)"
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    loaded = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert loaded.stdout.strip() == "False", "importing dataalign.plan loads torch"


def test_every_module_is_shorter_than_the_limit():
    long = {
        str(path.relative_to(REPO)): n
        for path in (REPO / "src").rglob("*.py")
        if (n := len(path.read_text().splitlines())) >= MAX_LINES
    }
    assert not long, f"modules of {MAX_LINES} lines or more; split them: {long}"
