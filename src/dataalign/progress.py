"""An estimate of the time a run has left, printed after Snakemake's "N of M steps" line.

Snakemake counts jobs, not time, and a pipeline's jobs differ by orders of magnitude (a download
takes seconds, a training run hours). The estimate weighs each rule's unfinished jobs by what a
job of that rule took: in this run once one has finished, else in earlier runs (the benchmark
records every job leaves in results/benchmarks/<rule>/), else the mean over the rules that are
known. The work left is shared by as many jobs as have run at once on average so far.

A rule with no timed job could take anything: guessing it from the cheap rules timed first said
"about 45 s left" at step 1 of a 30-minute first run of the demo. So until every model rule that
has started (its jobs ask for a `gpu` resource: training, evaluation, embedding with a model) has
a timed job, and the timed rules hold TIMED_SHARE of the run's jobs, the line names the rules it
waits for instead ("estimating: no embed job timed yet"). A run with history shows a number from
its first step.

`snakemake_logger_plugin_dataalign` feeds it Snakemake's log events (the public logger-plugin
interface).
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Mapping
from pathlib import Path

from dataalign.plan import paths

TIMED_SHARE = 0.75  # of the run's jobs, in rules with a timed job, before a number is shown
SHOWN = 3  # rules named while estimating


def benchmark_history(root: str | Path = ".") -> dict[str, float]:
    """Median wall seconds per job for each rule, from the benchmark records of earlier runs."""
    history = {}
    for folder in sorted((Path(root) / paths.BENCHMARKS).glob("*/")):
        seconds = [s for s in map(_wall_seconds, folder.rglob("*.tsv")) if s is not None]
        if seconds:
            history[folder.name] = statistics.median(seconds)
    return history


def _wall_seconds(path: Path) -> float | None:
    """A benchmark record's wall seconds (the first column of its second line), if readable."""
    try:
        return float(path.read_text().splitlines()[1].split("\t")[0])
    except (OSError, IndexError, ValueError):  # a record being written, or not one
        return None


class RunClock:
    """Tracks which jobs of which rules are planned, running and finished, and what is left."""

    def __init__(self, history: Mapping[str, float]) -> None:
        self.history = dict(history)
        self.jobs: dict[str, int] = {}  # rule -> jobs this run plans
        self.left: Counter[str] = Counter()  # rule -> jobs not yet finished
        self.models: set[str] = set()  # rules whose jobs load a model
        self.rule_of: dict[int, str] = {}
        self.started: dict[int, float] = {}
        self.taken: dict[str, list[float]] = {}  # rule -> this run's job durations
        self.first_start: float | None = None

    def planned(self, jobs_per_rule: Mapping[str, int]) -> None:
        self.jobs = {r: n for r, n in jobs_per_rule.items() if r != "total"}
        self.left = Counter(self.jobs)

    def job_started(self, jobid: int, rule: str, now: float, model: bool = False) -> None:
        self.rule_of[jobid] = rule
        if model:
            self.models.add(rule)
        self.started[jobid] = now
        if self.first_start is None:
            self.first_start = now

    def job_finished(self, jobid: int, now: float) -> None:
        rule = self.rule_of.get(jobid)
        began = self.started.pop(jobid, None)
        if rule is None:
            return
        self.left[rule] = max(self.left[rule] - 1, 0)
        if began is not None:
            self.taken.setdefault(rule, []).append(now - began)

    def per_job(self, rule: str) -> float | None:
        """Seconds a job of this rule takes: this run's mean (the work left is a sum of jobs, which
        a median understates when a few jobs are long), else the history's median (robust to
        records of other configs and machines)."""
        if rule in self.taken:
            return statistics.mean(self.taken[rule])
        return self.history.get(rule)

    def waiting_for(self) -> list[str]:
        """The untimed rules an estimate needs: each model rule that has started, then as many
        others, most jobs first, as the timed rules need to hold TIMED_SHARE of the jobs."""
        timed = sum(n for rule, n in self.jobs.items() if self.per_job(rule) is not None)
        short = TIMED_SHARE * sum(self.jobs.values()) - timed
        untimed = [rule for rule in self.jobs if self.left[rule] and self.per_job(rule) is None]
        waiting = []
        for rule in sorted(untimed, key=lambda r: (r not in self.models, -self.jobs[r])):
            if short > 0 or rule in self.models:
                waiting.append(rule)
                short -= self.jobs[rule]
        return waiting

    def seconds_left(self, now: float) -> float | None:
        """Wall seconds of work left; None before anything is known of any rule."""
        known = [s for s in map(self.per_job, self.left) if s is not None]
        if not known:
            return None
        fallback = statistics.mean(known)
        work = 0.0
        for rule, jobs in self.left.items():
            each = self.per_job(rule)
            work += jobs * (fallback if each is None else each)
        for jobid, began in self.started.items():  # running jobs are partly done
            each = self.per_job(self.rule_of[jobid])
            work -= min(now - began, fallback if each is None else each)
        return max(work, 0.0) / self.parallel(now)

    def parallel(self, now: float) -> float:
        """Jobs run at once on average so far: busy job-seconds over the wall time since the
        first job started. (Counting the jobs running at a progress line would halve it: the
        line comes as a job finishes, before the next one starts.)"""
        if self.first_start is None or now <= self.first_start:
            return 1.0
        busy = sum(map(sum, self.taken.values())) + sum(now - b for b in self.started.values())
        return max(busy / (now - self.first_start), 1.0)

    def message(self, now: float) -> str | None:
        """What follows the progress line: the time left, or the rules the estimate waits for."""
        if not sum(self.left.values()):
            return None
        if waiting := self.waiting_for():
            more = f" (+{len(waiting) - SHOWN} more)" if len(waiting) > SHOWN else ""
            return f"estimating: no {_either(waiting[:SHOWN])} job timed yet{more}"
        seconds = self.seconds_left(now)
        return None if seconds is None else f"about {format_duration(seconds)} left"


def format_duration(seconds: float) -> str:
    """`45 s`, `12 min`, `3.4 h`: precise enough for an estimate."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _either(names: list[str]) -> str:
    """`a`, `a or b`, `a, b or c`."""
    return " or ".join(filter(None, [", ".join(names[:-1]), names[-1]]))
