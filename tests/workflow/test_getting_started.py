"""docs/getting-started.md, run as a reader would: the page's command on its config (every file it
names installs with dataalign), and the page's ranking is the run's."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys

import pytest
from helpers import REPO
from readme import NUMBER, differences

PAGE = REPO / "docs" / "getting-started.md"
BLOCK = re.compile(r"<!-- ranking:begin -->\n(.*?)<!-- ranking:end -->", re.S)


def page_command() -> list[str]:
    """The page's `snakemake` command, its continuation lines joined."""
    text = PAGE.read_text().replace("\\\n", " ")
    line = next(line for line in text.splitlines() if line.startswith("snakemake "))
    return shlex.split(line)


def test_the_page_runs_its_example_config_through_an_align_experiment():
    command = page_command()
    assert (
        "config/examples/rank_datasets.yaml" in command and "--replace-workflow-config" in command
    )
    assert "kind: align" in (REPO / "config" / "examples" / "rank_datasets.yaml").read_text()


@pytest.mark.slow
def test_the_pages_command_ranks_the_candidates_as_the_page_says(tmp_path):
    """The command, run in a scratch folder: nothing trains, and the ranking it writes is the
    page's: the same order and verdicts, numbers within tools/readme.py's tolerance."""
    command = [sys.executable, "-m", *page_command(), "--directory", str(tmp_path)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=1200, cwd=REPO)
    assert result.returncode == 0, result.stderr[-3000:]
    assert not (tmp_path / "results" / "models").exists()
    ranking = (tmp_path / "results" / "tables" / "rank" / "ranking.md").read_text()
    claimed = BLOCK.search(PAGE.read_text()).group(1)
    assert claimed.strip(), "the page's ranking block is empty"
    assert differences(claimed, ranking) == []
    assert NUMBER.sub("#", claimed).strip() == NUMBER.sub("#", ranking).strip()  # names, order
