"""Record, or compare with the record, every job the shipped configs plan (a structure guard).

`python tests/dag_record.py` rewrites tests/dag/*.json from a dry-run of each shipped config; the
test in test_dag_record.py compares a fresh dry-run with them, so a refactoring that changes any
job (its rule, wildcards or outputs) fails.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from helpers import REPO, SHARED_DATA, run_snakemake

RECORDS = Path(__file__).resolve().parent / "dag"
CONFIGS = ("config", "local", "demo")


def planned_jobs(name: str, scratch: Path) -> list[dict]:
    """The dry-run job list of config/{name}.yaml, sorted, in a scratch folder beside ../shared."""
    workdir = scratch / "work"
    workdir.mkdir()
    (scratch / "shared").symlink_to(SHARED_DATA.parent)  # local.yaml reads ../shared/data
    jobs = run_snakemake(workdir, REPO / "config" / f"{name}.yaml", dryrun=True)
    return sorted(
        ({"rule": j.rule, "wildcards": j.wildcards, "output": sorted(j.output)} for j in jobs),
        key=lambda job: (job["rule"], job["output"]),
    )


def main() -> None:
    RECORDS.mkdir(exist_ok=True)
    for name in sys.argv[1:] or CONFIGS:
        with tempfile.TemporaryDirectory() as scratch:
            jobs = planned_jobs(name, Path(scratch))
        (RECORDS / f"{name}.json").write_text(json.dumps(jobs, indent=1, sort_keys=True) + "\n")
        print(f"{name}: {len(jobs)} jobs")


if __name__ == "__main__":
    main()
