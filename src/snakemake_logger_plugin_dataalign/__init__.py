"""Snakemake logger plugin `dataalign`: Snakemake's console, plus the time a run has left.

Enabled by `logger: [dataalign]` in profiles/default (or `snakemake --logger dataalign`). It
takes over the console (Snakemake runs plugin handlers in a thread of their own, so a second
writer beside Snakemake's would interleave its lines) but leaves what is shown and how to
Snakemake: Snakemake attaches its own console filter and formatter to a plugin that brings none.
Every event is seen before that filter, so the estimate (dataalign.progress) follows every job
even when `--quiet` hides them; it is printed under each "N of M steps" line.
"""

from __future__ import annotations

import logging
import sys
import time

from snakemake_interface_logger_plugins.base import LogHandlerBase
from snakemake_interface_logger_plugins.common import LogEvent

from dataalign.progress import RunClock, benchmark_history

COLOURS = {logging.WARNING: "\033[33m", logging.ERROR: "\033[31m", logging.CRITICAL: "\033[35m"}


class LogHandler(LogHandlerBase):
    def __post_init__(self) -> None:
        self.stream = sys.stdout if self.common_settings.stdout else sys.stderr
        self.colour = not self.common_settings.nocolor and self.stream.isatty()
        self.clock = RunClock(benchmark_history())
        self.after_job_info = False

    def handle(self, record: logging.LogRecord) -> bool:
        self.track(record)  # before the console filter: the clock needs every job
        return super().handle(record)

    def track(self, record: logging.LogRecord) -> None:
        event, now = getattr(record, "event", None), time.monotonic()
        if event == LogEvent.RUN_INFO:
            self.clock.planned(record.stats)
        elif event == LogEvent.JOB_INFO:
            # Model jobs (training, evaluation, embedding) carry a `gpu` resource (the workflow's
            # gpu_job), 0 where there is no GPU.
            model = getattr(record, "resources", {}).get("gpu") is not None
            self.clock.job_started(record.jobid, record.rule_name, now, model)
        elif event == LogEvent.JOB_FINISHED:
            self.clock.job_finished(record.job_id, now)

    def emit(self, record: logging.LogRecord) -> None:
        text = self.format(record)
        if not text or text == "None":
            return
        event = getattr(record, "event", None)
        if event == LogEvent.PROGRESS and not self.common_settings.dryrun:
            estimate = self.clock.message(time.monotonic())
            text = f"{text}; {estimate}" if estimate else text
        colour = COLOURS.get(record.levelno) if self.colour else None
        if colour:
            text = f"{colour}{text}\033[0m"
        # Snakemake's console sets each run of job descriptions apart with a blank line.
        blank = "\n" if event == LogEvent.JOB_INFO and not self.after_job_info else ""
        self.after_job_info = event == LogEvent.JOB_INFO
        self.stream.write(f"{blank}{text}\n")  # one write per record: lines never interleave
        self.stream.flush()

    @property
    def writes_to_stream(self) -> bool:
        return True

    @property
    def writes_to_file(self) -> bool:
        return False

    @property
    def has_filter(self) -> bool:
        return False  # Snakemake's console filter (--quiet, --verbose) decides what is shown

    @property
    def has_formatter(self) -> bool:
        return False  # Snakemake's console formatter writes each line

    @property
    def needs_rulegraph(self) -> bool:
        return False
