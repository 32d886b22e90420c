"""The time a run has left: weighted by what each rule's jobs take, shown after Snakemake's
progress line by the `dataalign` logger plugin."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path
from types import SimpleNamespace
from typing import NamedTuple

import pytest
from snakemake_interface_logger_plugins.base import LogHandlerBase
from snakemake_interface_logger_plugins.common import LogEvent

from dataalign.progress import RunClock, benchmark_history, format_duration


def test_unfinished_jobs_are_weighted_by_their_rule():
    clock = RunClock({"train": 100.0, "subset": 1.0})
    clock.planned({"train": 2, "subset": 10, "total": 12})
    assert clock.seconds_left(now=0.0) == pytest.approx(2 * 100 + 10 * 1)
    clock.job_started(1, "train", now=0.0)
    clock.job_started(2, "subset", now=0.0)
    # 30 s into a train job and a subset (done by now, counted as 1 s): the rest shared by 2.
    assert clock.seconds_left(now=30.0) == pytest.approx((210 - 30 - 1) / 2)


def test_this_runs_jobs_replace_the_history_and_unknown_rules_take_the_mean():
    clock = RunClock({"train": 100.0})
    clock.planned({"train": 3, "embed": 2})
    clock.job_started(7, "train", now=0.0)
    clock.job_finished(7, now=40.0)  # this machine is faster than the history's
    assert clock.per_job("train") == 40.0
    assert clock.seconds_left(now=40.0) == pytest.approx(2 * 40 + 2 * 40)
    assert RunClock({}).seconds_left(now=0.0) is None


def test_history_is_the_median_of_each_rules_benchmark_records(tmp_path):
    header = "s\th:m:s\tmax_rss\n"
    for rule, key, seconds in [("train", "a", 10), ("train", "b/c", 30), ("train", "d", 90)]:
        record = tmp_path / "results/benchmarks" / rule / f"{key}.tsv"
        record.parent.mkdir(parents=True, exist_ok=True)
        record.write_text(f"{header}{seconds}\t0:00:{seconds}\t100\n")
    (tmp_path / "results/benchmarks/embed").mkdir()
    (tmp_path / "results/benchmarks/embed/half.tsv").write_text(header)  # being written
    assert benchmark_history(tmp_path) == {"train": 30.0}


def test_the_work_left_is_shared_by_the_jobs_run_at_once_on_average():
    """A progress line comes as a job finishes, before the next starts: the jobs running then
    undercount the parallelism; busy job-seconds over wall time do not."""
    clock = RunClock({"embed": 10.0})
    clock.planned({"embed": 6})
    for jobid, start in ((1, 0.0), (2, 0.0), (3, 10.0)):
        clock.job_started(jobid, "embed", now=start)
    clock.job_finished(1, now=10.0)
    clock.job_finished(2, now=10.0)
    clock.job_finished(3, now=20.0)  # one job ran alone from 10 s to 20 s, now none runs
    assert clock.parallel(now=20.0) == pytest.approx(1.5)  # 30 busy seconds in 20
    assert clock.seconds_left(now=20.0) == pytest.approx(3 * 10.0 / 1.5)


def test_a_model_rule_that_has_started_is_waited_for_however_few_its_jobs():
    clock = RunClock({"subset": 1.0})
    clock.planned({"subset": 90, "train": 10, "total": 100})
    clock.job_started(1, "train", now=0.0, model=True)
    assert clock.message(now=5.0) == "estimating: no train job timed yet"
    clock.job_finished(1, now=600.0)
    assert clock.message(now=600.0) == "about 1.5 h left"  # 9 * 600 s + 90 * 1 s


def test_durations_read_at_a_glance():
    assert [format_duration(s) for s in (42, 600, 5 * 3600)] == ["42 s", "10 min", "5.0 h"]


def record(event: LogEvent, **fields) -> logging.LogRecord:
    entry = logging.LogRecord("snakemake", logging.INFO, "", 0, None, None, None)
    entry.__dict__.update(event=event, **fields)
    return entry


def console_plugin(monkeypatch, tmp_path) -> tuple[LogHandlerBase, io.StringIO, list[float]]:
    """The `dataalign` logger plugin as Snakemake sets it up for `--quiet rules` (which hides the
    jobs from the console but not from the clock) in a folder with no history, writing to a
    console it returns with the clock's time, which the caller sets."""
    from snakemake.logging import DefaultFilter, DefaultFormatter
    from snakemake.settings.enums import Quietness
    from snakemake_interface_logger_plugins.registry import LoggerPluginRegistry

    plugin = LoggerPluginRegistry().get_plugin("dataalign")  # discovered as Snakemake finds it
    monkeypatch.chdir(tmp_path)
    console = io.StringIO()
    monkeypatch.setattr("sys.stderr", console)
    settings = SimpleNamespace(stdout=False, nocolor=True, dryrun=False, quiet=None)
    handler = plugin.log_handler(settings, None)
    assert handler.writes_to_stream and not handler.has_filter and not handler.has_formatter
    # What Snakemake attaches to a stream plugin that brings no filter or formatter of its own.
    handler.addFilter(DefaultFilter({Quietness.RULES}, False, False, False, False))
    handler.setFormatter(DefaultFormatter(None, False))
    now = [0.0]
    monkeypatch.setattr("time.monotonic", lambda: now[0])
    return handler, console, now


def test_the_logger_plugin_prints_snakemakes_line_and_the_estimate(monkeypatch, tmp_path):
    handler, console, now = console_plugin(monkeypatch, tmp_path)
    handler.handle(record(LogEvent.RUN_INFO, stats={"train": 3, "total": 3}, msg="Job stats"))
    for jobid in (1, 2):
        handler.handle(record(LogEvent.JOB_INFO, jobid=jobid, rule_name="train", msg=None))
    now[0] = 60.0
    handler.handle(record(LogEvent.JOB_FINISHED, job_id=1, msg="Finished jobid: 1"))
    handler.handle(record(LogEvent.PROGRESS, done=1, total=3))
    # Two train jobs of 60 s left, one 60 s in: 60 s of work, shared by the 2 jobs that have
    # run at once so far (not by the 1 running as the progress line comes).
    assert console.getvalue().splitlines()[-1] == "1 of 3 steps (33%) done; about 30 s left"


RUNS = Path(__file__).resolve().parents[1] / "runs"  # recorded by tests/run_record.py


class Step(NamedTuple):
    line: str  # what the console showed
    estimate: float | None  # the seconds behind its "about ... left"
    truth: float  # the seconds the run really had left
    untimed_models: set[str]  # model rules with no finished job yet
    started_untimed: set[str]  # those of them with a job started


def recorded(name: str) -> dict:
    """A demo run's jobs planned per rule and its job starts and ends, seconds from its start."""
    return json.loads((RUNS / f"{name}.json").read_text())


def longest_job(run: dict) -> float:
    started = {e["start"]: e["t"] for e in run["events"] if "start" in e}
    return max(e["t"] - started[e["end"]] for e in run["events"] if "end" in e)


def replay(run: dict, monkeypatch, tmp_path) -> list[Step]:
    """A recorded run's job starts and ends, with their real timings, through the logger plugin
    with no history: the progress line it printed at each step."""
    handler, console, now = console_plugin(monkeypatch, tmp_path)
    total = sum(run["planned"].values())
    stats = run["planned"] | {"total": total}
    handler.handle(record(LogEvent.RUN_INFO, stats=stats, msg="Job stats"))
    end = run["events"][-1]["t"]
    untimed = {e["rule"] for e in run["events"] if e.get("model")}
    rule_of, started, steps = {}, set(), []
    for event in run["events"]:
        now[0] = event["t"]
        if "start" in event:
            rule_of[event["start"]] = event["rule"]
            started.add(event["rule"])
            resources = {"gpu": 0} if event["model"] else {}  # what `gpu_job` adds
            handler.handle(
                record(
                    LogEvent.JOB_INFO,
                    jobid=event["start"],
                    rule_name=event["rule"],
                    resources=resources,
                    msg=None,
                )
            )
            continue
        handler.handle(record(LogEvent.JOB_FINISHED, job_id=event["end"], msg="Finished"))
        untimed.discard(rule_of[event["end"]])
        handler.handle(record(LogEvent.PROGRESS, done=len(steps) + 1, total=total))
        estimate = handler.clock.seconds_left(now[0])
        line = console.getvalue().splitlines()[-1]
        steps.append(Step(line, estimate, end - event["t"], set(untimed), untimed & started))
    return steps


@pytest.mark.parametrize("name", ["demo_shared_cores", "demo_ci"])
def test_a_first_run_says_it_is_estimating_until_its_estimate_can_hold(name, monkeypatch, tmp_path):
    """The demo, recorded on 2 cores shared with other work (30.6 min) and in CI (11.5 min): at
    step 1 the first version said "about 45 s left" (the cheap rules timed first, taken for all).
    Now the line says what it waits for (naming each model rule that has started) until each
    model rule and 3/4 of the jobs are timed; then
    it is never below half the time really left, nor above twice it plus the run's longest job
    (which of a rule's jobs is the long one cannot be known: a 282 s embed among 12 s ones)."""
    run = recorded(name)
    steps, longest = replay(run, monkeypatch, tmp_path), longest_job(run)
    for number, step in enumerate(steps[:-1], start=1):
        if step.untimed_models:
            assert "; estimating: no " in step.line, (number, step)
            assert all(rule in step.line for rule in step.started_untimed), (number, step)
        if "left" in step.line and number > 5:
            assert step.truth / 2 <= step.estimate <= 2 * step.truth + longest, (number, step)
    shown = [number for number, step in enumerate(steps, start=1) if "left" in step.line]
    assert shown == list(range(shown[0], len(steps))) and shown[0] <= 0.6 * len(steps)
    assert steps[-1].line == f"{len(steps)} of {len(steps)} steps (100%) done"
