"""Record a real run's job timeline from its Snakemake log, for test_progress.py to replay.

`python tests/run_record.py NAME .snakemake/log/<run>.snakemake.log` writes tests/runs/NAME.json:
the jobs planned per rule, then each job's start (with its rule and whether it loads a model: it
asks for a `gpu` resource) and end, in the log's order, in whole seconds since the first job.
"""

from __future__ import annotations

import json
import re
import sys
from datetime import datetime
from pathlib import Path

RECORDS = Path(__file__).resolve().parent / "runs"
STAMP = re.compile(r"^\[(\w{3} \w{3} +\d+ [\d:]+ \d{4})\]$")
STATS = re.compile(r"^(\w+) +(\d+)$")
RULE = re.compile(r"^(?:local)?(?:rule|checkpoint) (\w+):$")
JOBID = re.compile(r"^ +jobid: (\d+)$")
FINISHED = re.compile(r"^Finished jobid: (\d+) ")


def timeline(lines: list[str]) -> dict:
    """The planned jobs per rule and the start and end events of a Snakemake log."""
    planned: dict[str, int] = {}
    events: list[dict] = []
    first = now = None
    in_job = False  # between a job's `rule NAME:` line and its `resources:` line
    for line in lines:
        if match := STAMP.match(line):
            now = datetime.strptime(match[1], "%a %b %d %H:%M:%S %Y").timestamp()
            first = now if first is None else first
        elif (match := STATS.match(line)) and now is None and match[1] != "total":
            planned[match[1]] = int(match[2])
        elif match := RULE.match(line):
            events.append(
                {"t": round(now - first), "start": None, "rule": match[1], "model": False}
            )
            in_job = True
        elif in_job and (match := JOBID.match(line)):
            events[-1]["start"] = int(match[1])
        elif in_job and line.startswith("    resources:"):
            events[-1]["model"] = "gpu=" in line
            in_job = False
        elif match := FINISHED.match(line):
            events.append({"t": round(now - first), "end": int(match[1])})
    return {"planned": planned, "events": events}


def main() -> None:
    name, log = sys.argv[1:]
    record = timeline(Path(log).read_text().splitlines())
    events = ",\n".join(map(json.dumps, record["events"]))  # one a line: a diff shows a job
    RECORDS.mkdir(exist_ok=True)
    (RECORDS / f"{name}.json").write_text(
        f'{{"planned": {json.dumps(record["planned"])},\n"events": [\n{events}\n]}}\n'
    )
    print(f"{name}: {len(record['events'])} events")


if __name__ == "__main__":
    main()
