"""Chaos run: kill the pipeline at random moments, rerun it until it completes, and check that
every output is byte-identical to an uninterrupted run's.

A seeded adversary watches `snakemake` (run as a subprocess in its own process group) and, after
a random wait, SIGKILLs a random running job, a training job past its first checkpoint, or
Snakemake itself with all its jobs (then `snakemake --unlock`); a kill counts only when it hit a
live process. It also injects each other fault once: a file inside the newest complete checkpoint
of a running training job is truncated before the job is killed, a running job gets SIGINT
(Ctrl-C), and a finished intermediate Parquet file is cut in half between two runs (the job that
reads it fails with a one-line message, whose fix, delete it and rerun, is followed). Snakemake
is rerun until a run finishes with nothing done to it. Each kill is printed with its time, its
victim and where the rerun of the victim resumed (a training job's log says `resuming from
checkpoint … (step N)`); then every file of the run is compared with the reference run's,
except those that differ between two clean runs too (`NOT_COMPARED`). Exit status 1 on any
difference, an orphaned job, or a fault that was not injected or not noticed.

    python tools/chaos.py --workdir /tmp/chaos --kills 20 --seed 0 \
        --configfile config/demo.yaml --replace-workflow-config   # (the demo's chaos run)

Snakemake runs with `--keep-going`, so it goes on with other jobs after one is killed.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
# jobs import this checkout's library, whatever the environment has installed
ENV = {
    **os.environ,
    "PYTHONPATH": os.pathsep.join(filter(None, (str(REPO / "src"), os.environ.get("PYTHONPATH")))),
}
SCRIPTS = f"{os.sep}.snakemake{os.sep}scripts{os.sep}"  # where Snakemake puts a job's script
TRAINING = ("finetune", "pretrain")
# What two uninterrupted runs of the same config write differently (checked on the tiny test
# pipeline's full run: these and nothing else differ), so it is never compared; the value says
# why. Everything else under the working directory, the trained weights, every table and every
# PNG figure included, must be byte-identical.
NOT_COMPARED = {
    ".snakemake/": "Snakemake's own records (metadata, locks, its logs, job scripts)",
    "logs/": "job logs: times, host name, progress bars",
    "results/benchmarks/": "each job's wall time and memory",
    "results/tables/*/costs.*": "each stage's cost, summed from those benchmark records",
    "*.pdf": "a PDF records when it was made (its PNG twin, of the same data, is compared)",
}
RESUMED = re.compile(r"resuming from checkpoint \S+ \(step (\d+)\)")
DAMAGED = re.compile(r"(\S+) cannot be read \(.*Fix: delete it and rerun")
FAULTS = ("checkpoint", "sigint", "damage")
PATIENCE = 60.0  # seconds a training kill waits for a training job past a checkpoint, else any


@dataclass
class Job:
    """A running job: the process of its script, and its log (which names rule and wildcards)."""

    process: psutil.Process
    log: str  # relative to the working directory ("" when the script names none)

    @property
    def rule(self) -> str:
        return self.log.split("/")[1] if self.log.startswith("logs/") else "?"

    @property
    def name(self) -> str:
        key = self.log.removeprefix(f"logs/{self.rule}/").removesuffix(".log")
        return f"{self.rule} {key}" if self.log else "a job"


@dataclass
class Kill:
    number: int
    at: float  # seconds since the chaos run started
    victim: str
    pid: int
    jobs: list[Job] = field(default_factory=list)  # the jobs it cut short
    resumed: dict[str, str] = field(default_factory=dict)  # job log -> where its rerun began
    wall: float = field(default_factory=time.time)  # when, on the clock job logs use


@dataclass
class Result:
    kills: list[Kill]
    faults: dict[str, str]  # fault -> what happened ("" while not injected)
    runs: int  # Snakemake invocations
    seconds: float
    mismatches: list[str]
    problems: list[str]  # orphaned jobs, faults not injected or not noticed

    @property
    def ok(self) -> bool:
        return not self.mismatches and not self.problems


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def compared(relative: str) -> bool:
    return not any(
        relative.startswith(pattern) if pattern.endswith("/") else Path(relative).match(pattern)
        for pattern in NOT_COMPARED
    )


def outputs(workdir: Path) -> dict[str, str]:
    """Every compared file of a run, by path relative to `workdir`: its SHA-256."""
    files = (p for p in workdir.rglob("*") if p.is_file() and not p.is_symlink())
    return {rel: digest(p) for p in files if compared(rel := p.relative_to(workdir).as_posix())}


def differences(reference: dict[str, str], run: dict[str, str]) -> list[str]:
    """Each compared file that is missing, extra, or has other bytes in `run`."""
    found = []
    for path in sorted(reference.keys() | run.keys()):
        if path not in run:
            found.append(f"{path}: missing")
        elif path not in reference:
            found.append(f"{path}: not in the reference run")
        elif reference[path] != run[path]:
            found.append(f"{path}: differs")
    return found


def snakemake(workdir: Path, args: list[str], *extra: str) -> list[str]:
    """The command line of a Snakemake run of this repository's workflow in `workdir`."""
    return [
        *(sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile")),
        *("--directory", str(workdir), *args, *extra),
    ]


def clean_run(workdir: Path, args: list[str]) -> float:
    """An uninterrupted run; its wall time."""
    workdir.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    with open(workdir / "snakemake.out", "w") as out:
        subprocess.run(
            snakemake(workdir, args), stdout=out, stderr=subprocess.STDOUT, env=ENV, check=True
        )
    (workdir / "snakemake.out").rename(workdir / ".snakemake" / "clean-run.out")
    return time.monotonic() - start


def job_log(script: str, workdir: Path) -> str:
    """The log a job's script (Snakemake's pickled job) names."""
    try:
        text = Path(script).read_bytes().decode("latin-1")
    except OSError:
        return ""
    found = re.search(r"logs/[\w./=+-]+?\.log", text)
    return found[0] if found else ""


LOGS: dict[str, str] = {}  # job script -> the log it names


def running_jobs(snakemake_process: psutil.Process, workdir: Path) -> list[Job]:
    """The job processes under Snakemake: those running a script Snakemake wrote (the innermost
    of a shell and the Python it starts)."""
    found = {}
    try:
        descendants = snakemake_process.children(recursive=True)
    except psutil.Error:
        return []
    for process in descendants:
        try:
            script = next((a for a in process.cmdline()[1:] if SCRIPTS in a), None)
            if script and script.endswith(".py"):
                found[process.pid] = (process, script)
        except psutil.Error:
            continue
    inner = [
        (p, s) for p, s in found.values() if not any(q.ppid() == p.pid for q, _ in found.values())
    ]
    for _, script in inner:
        LOGS[script] = LOGS.get(script) or job_log(script, workdir)
    return [Job(p, LOGS[s]) for p, s in inner]


def checkpoints(workdir: Path, job: Job, fresh: bool = False) -> list[Path]:
    """A training job's complete checkpoints, oldest first; `fresh`: only those this process
    saved (so it is past loading the model, in its training loop)."""
    run = job.log.removeprefix(f"logs/{job.rule}/").removesuffix(".log")
    found = (workdir / "results" / "checkpoints" / run).glob("*/checkpoint-*/dataalign-complete")
    try:
        born = job.process.create_time() if fresh else 0.0
        found = [m for m in found if m.stat().st_mtime >= born]
    except (psutil.Error, OSError):
        return []
    return sorted((m.parent for m in found), key=lambda p: int(p.name.rsplit("-", 1)[1]))


def started(log_text: str) -> float:
    """When the job that wrote a log began (its first line's time), as a Unix time; 0 if unknown."""
    try:
        stamp = datetime.strptime(log_text[:23], "%Y-%m-%d %H:%M:%S,%f")
    except ValueError:
        return 0.0
    return stamp.timestamp()


def where_resumed(text: str) -> str:
    """Where a training job's log says it picked up, and any checkpoint it removed first."""
    notes = [line.split(": ", 1)[-1] for line in text.splitlines() if "checkpoint" in line]
    steps = RESUMED.findall(text)
    head = f"resumed at step {steps[-1]}" if steps else "started over"
    notes = [n for n in notes if "damaged" in n or "incomplete" in n]
    return "; ".join([head, *notes])


class Adversary:
    """Kills and faults at random moments, drawn from one seeded generator."""

    def __init__(self, workdir: Path, seed: int, kills: int, delay: tuple[float, float],
                 share: dict[str, float], faults: tuple[str, ...],
                 patience: float = PATIENCE) -> None:  # fmt: skip
        self.workdir, self.rng, self.goal, self.delay = workdir, random.Random(seed), kills, delay
        self.share = share  # chance of each kind of kill: snakemake, training (else any job)
        self.patience = patience
        self.kills: list[Kill] = []
        self.faults = {fault: "" for fault in faults}
        self.start = time.monotonic()
        self.problems: list[str] = []
        self.spared: set[int] = set()  # a job sent SIGINT: left to say so, not killed

    def counted(self) -> int:
        """Kills so far (a fault's kill is not one)."""
        return sum(kill.number > 0 for kill in self.kills)

    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def say(self, message: str) -> None:
        print(f"[{self.elapsed():7.1f} s] {message}", flush=True)

    def run(self, args: list[str], number: int) -> tuple[int, bool, str]:
        """One Snakemake invocation under attack: its exit status, whether anything was done to
        it, and its console output."""
        output = self.workdir / ".snakemake" / f"chaos-run-{number}.out"
        output.parent.mkdir(parents=True, exist_ok=True)
        with open(output, "w") as out:
            proc = subprocess.Popen(
                snakemake(self.workdir, args, "--keep-going"),
                stdout=out,
                stderr=subprocess.STDOUT,
                env=ENV,
                start_new_session=True,  # its own process group: one killpg ends it and its jobs
                # A process started in the background (`&`, nohup, CI) inherits SIGINT ignored,
                # and Python then never raises KeyboardInterrupt: so would Snakemake and every
                # job. A terminal's Ctrl-C reaches processes that take it; restore that here.
                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
            )
        root, attacked, killed_snakemake = psutil.Process(proc.pid), False, False
        kind, due = self.next_kind(), self.elapsed() + self.rng.uniform(*self.delay)
        while proc.poll() is None:
            time.sleep(0.05)
            jobs = running_jobs(root, self.workdir) if proc.poll() is None else []
            jobs = [job for job in jobs if job.process.pid not in self.spared]
            if self.fault_due(jobs):  # then a full wait before the next kill
                attacked, due = True, self.elapsed() + self.rng.uniform(*self.delay)
            elif self.counted() < self.goal and self.elapsed() >= due and jobs:
                hit = self.kill(kind, root, jobs)
                if hit is None and self.elapsed() < due + self.patience:
                    continue  # no training job past a checkpoint yet: wait a little longer
                if hit is None:
                    hit = self.kill("job", root, jobs)
                attacked = attacked or hit is not None
                killed_snakemake = killed_snakemake or hit == "snakemake"
                kind, due = self.next_kind(), self.elapsed() + self.rng.uniform(*self.delay)
        if killed_snakemake:
            subprocess.run(snakemake(self.workdir, args, "--unlock"), capture_output=True, env=ENV)
        return proc.returncode, attacked, output.read_text(errors="replace")

    def next_kind(self) -> str:
        """The next kill's kind, drawn by the shares; the last kill is of Snakemake itself when
        none was yet (and its share is not 0), so every run tries that recovery once."""
        draw = self.rng.random()
        spared = not any(kill.victim == "snakemake" for kill in self.kills if kill.number)
        if self.share["snakemake"] > 0 and spared and self.counted() == self.goal - 1:
            return "snakemake"
        if draw < self.share["snakemake"]:
            return "snakemake"
        return "training" if draw < self.share["snakemake"] + self.share["training"] else "job"

    def kill(self, kind: str, root: psutil.Process, jobs: list[Job]) -> str | None:
        """SIGKILL a victim of `kind`; None if there was none (or it was already gone)."""
        if kind == "training":
            jobs = [j for j in jobs if j.rule in TRAINING and checkpoints(self.workdir, j, True)]
            if not jobs:
                return None
        if kind == "snakemake":
            victim, pid, cut = "snakemake", root.pid, jobs
            group = root.children(recursive=True)  # (Snakemake itself is reaped by its Popen)
            try:
                os.killpg(root.pid, signal.SIGKILL)  # Snakemake and every job it started
            except ProcessLookupError:
                return None
            _, alive = psutil.wait_procs(group, timeout=10)
            alive += [p for p in self.strays() if p not in alive]
            if alive:
                self.problems.append(f"jobs left running after killing snakemake: {alive}")
        else:
            job = self.rng.choice(jobs)
            victim, pid, cut = job.name, job.process.pid, [job]
            saved = checkpoints(self.workdir, job) if job.rule in TRAINING else []
            try:
                job.process.send_signal(signal.SIGKILL)
            except psutil.Error:
                return None
            if job.rule in TRAINING:
                victim += f" ({'newest complete ' + saved[-1].name if saved else 'no checkpoint'})"
        self.kills.append(Kill(self.counted() + 1, self.elapsed(), victim, pid, cut))
        self.say(f"kill {self.counted()}: SIGKILL {victim} (pid {pid})")
        return "snakemake" if kind == "snakemake" else "job"

    def strays(self) -> list[psutil.Process]:
        """Job processes of this run still alive, wherever they are in the process tree."""
        scripts, found = str(self.workdir / ".snakemake" / "scripts"), []
        for process in psutil.process_iter(["cmdline"]):
            if any(scripts in part for part in process.info["cmdline"] or ()):
                found.append(process)
        return found

    def fault_due(self, jobs: list[Job]) -> bool:
        """Inject a pending fault that needs a running training job past a checkpoint it saved
        (past two for the damaged checkpoint, so that the rerun resumes from the one before)."""
        saved = [(j, len(checkpoints(self.workdir, j, True))) for j in jobs if j.rule in TRAINING]
        need = {"checkpoint": 2, "sigint": 1}
        choices = [
            (fault, job)
            for fault in need
            if self.faults.get(fault) == ""
            for job, count in saved
            if count >= need[fault]
        ]
        if not choices or self.elapsed() < self.delay[0]:
            return False
        fault, job = choices[0][0], self.rng.choice([j for f, j in choices if f == choices[0][0]])
        try:
            if fault == "checkpoint":
                job.process.suspend()  # so that it saves no newer checkpoint meanwhile
                newest = checkpoints(self.workdir, job)[-1]
                target = max((p for p in newest.iterdir() if p.is_file()), key=os.path.getsize)
                os.truncate(target, target.stat().st_size // 2)
                job.process.kill()
                what = f"truncated {target.relative_to(self.workdir)}, then SIGKILL"
            else:
                job.process.send_signal(signal.SIGINT)
                self.spared.add(job.process.pid)
                what = "SIGINT"
        except psutil.Error:
            return False
        self.faults[fault] = f"{what} {job.name} (pid {job.process.pid})"
        self.kills.append(Kill(0, self.elapsed(), f"{fault} fault: {job.name}", job.process.pid,
                               [job]))  # fmt: skip
        self.say(f"fault {fault}: {self.faults[fault]}")
        return True

    def damage(self) -> bool:
        """Between two runs: cut a finished intermediate Parquet file in half, an embedding where
        there is one (what reads it is quicker to redo than training), else a subset."""
        for folder in ("results/embeddings", "results/subsets"):
            files = sorted((self.workdir / folder).rglob("*.parquet"))
            if files:
                break
        else:
            return False
        target = self.rng.choice(files)
        os.truncate(target, target.stat().st_size // 2)
        self.faults["damage"] = f"cut {target.relative_to(self.workdir)} in half"
        self.say(f"fault damage: {self.faults['damage']}")
        return True

    def settle(self) -> None:
        """Read where each cut-short job's rerun began, from its log once a rerun (started after
        the kill) has written it; a training job's, once it has decided where to resume."""
        for kill in self.kills:
            for job in kill.jobs:
                log = self.workdir / job.log
                if not job.log or job.log in kill.resumed or not log.exists():
                    continue
                text = log.read_text(errors="replace")
                if started(text) <= kill.wall:
                    continue  # the log of the run cut short, or of none yet
                if job.rule not in TRAINING:
                    kill.resumed[job.log] = "rerun from the start (no state to resume)"
                elif "training on " in text:
                    kill.resumed[job.log] = where_resumed(text)


def chaos_run(workdir: Path, args: list[str], seed: int = 0, kills: int = 10,
              delay: tuple[float, float] = (0.5, 4.0), snakemake_share: float = 0.2,
              training_share: float = 0.3, faults: tuple[str, ...] = FAULTS,
              reference: Path | None = None, max_runs: int = 200,
              patience: float = PATIENCE) -> Result:  # fmt: skip
    """Run the workflow (`args`: config and targets) in `workdir`/chaos under the adversary until
    it completes, and compare it with `reference` (run uninterrupted in `workdir`/reference when
    not given)."""
    if reference is None:
        reference = workdir / "reference"
        if not (reference / ".snakemake" / "clean-run.out").exists():
            shutil.rmtree(reference, ignore_errors=True)
            print(f"reference run: {clean_run(reference, args):.0f} s", flush=True)
    run_dir = workdir / "chaos"
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    share = {"snakemake": snakemake_share, "training": training_share}
    adversary = Adversary(run_dir, seed, kills, delay, share, faults, patience)
    number, status, complete = 0, None, False
    while number < max_runs and not complete:
        number += 1
        halfway = adversary.counted() >= kills // 2 or status == 0
        if adversary.faults.get("damage") == "" and halfway:
            adversary.damage()  # between two runs, once half the kills are done (or all jobs)
        status, attacked, output = adversary.run(args, number)
        adversary.settle()
        for path in DAMAGED.findall(output):  # follow the one-line message's fix
            adversary.say(f"run {number}: {path} cannot be read; deleting it, as the fix says")
            (run_dir / path).unlink(missing_ok=True)
            adversary.faults["damage"] += f"; reported, deleted {path}"
            attacked = True
        interrupted = re.search(r"interrupted by Ctrl-C.*", output)
        sigint = adversary.faults.get("sigint", "said")
        if interrupted and "said" not in sigint:
            adversary.faults["sigint"] += f"; the job said: {interrupted[0]}"
        elif sigint and "said" not in sigint and "ended" not in sigint:
            adversary.say(f"run {number}: the job sent SIGINT did not stop: it ended normally")
            adversary.faults["sigint"] += "; the job did not stop: it ended normally"
        steps = re.findall(r"(\d+) of (\d+) steps", output)
        todo = f"{steps[-1][0]} of {steps[-1][1]} jobs done" if steps else "no jobs done"
        adversary.say(f"run {number}: {todo}, exit status {status}")
        complete = status == 0 and not attacked and adversary.faults.get("damage") != ""
    problems = list(adversary.problems)
    problems += [
        f"fault {f} was never injected" for f, what in adversary.faults.items() if not what
    ]
    if "damage" in faults and "reported" not in adversary.faults["damage"]:
        problems.append("the damaged file was never reported")
    if "checkpoint" in faults and not any(
        "damaged" in r for k in adversary.kills for r in k.resumed.values()
    ):
        problems.append("no rerun reported the damaged checkpoint")
    if not complete:
        problems.append(f"the workflow did not complete in {max_runs} runs")
    while (reference / ".snakemake" / "locks").is_dir() and any(
        (reference / ".snakemake" / "locks").iterdir()
    ):
        time.sleep(10)  # the reference run is still going (started beside this one)
    mismatches = differences(outputs(reference), outputs(run_dir))
    return Result(adversary.kills, adversary.faults, number, adversary.elapsed(), mismatches,
                  problems)  # fmt: skip


def report(result: Result) -> str:
    lines = [f"{'kill':>4} {'at':>8}  victim (pid): where its rerun began"]
    for kill in result.kills:
        label = str(kill.number) if kill.number else "fault"
        lines.append(f"{label:>4} {kill.at:7.1f}s  {kill.victim} (pid {kill.pid})")
        for job in kill.jobs:
            resumed = kill.resumed.get(job.log, "not rerun (or its log names no job)")
            lines.append(f"{'':15}{job.name}: {resumed}")
    counted = [k for k in result.kills if k.number]
    on_snakemake = sum(k.victim == "snakemake" for k in counted)
    resumed = sum("resumed at step" in r for k in result.kills for r in k.resumed.values())
    lines += [
        f"{len(counted)} kills ({on_snakemake} of Snakemake), {resumed} reruns resumed from a "
        f"checkpoint, {result.runs} Snakemake runs, {result.seconds:.0f} s",
        *(f"fault {fault}: {what or 'not injected'}" for fault, what in result.faults.items()),
        *(f"problem: {p}" for p in result.problems),
        *(f"mismatch: {m}" for m in result.mismatches),
        "outputs byte-identical to the uninterrupted run's"
        if not result.mismatches
        else f"{len(result.mismatches)} files differ from the uninterrupted run's",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, required=True, help="runs go in reference/, chaos/")
    parser.add_argument("--reference", type=Path, help="a finished uninterrupted run to compare")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--delay", type=float, nargs=2, default=(0.5, 4.0), metavar=("MIN", "MAX"),
                        help="seconds between kills, drawn uniformly")  # fmt: skip
    parser.add_argument("--snakemake-share", type=float, default=0.2)
    parser.add_argument("--training-share", type=float, default=0.3)
    parser.add_argument("--patience", type=float, default=PATIENCE,
                        help="seconds a training kill waits for a checkpointed job")  # fmt: skip
    parser.add_argument("--no-faults", action="store_true")
    options, args = parser.parse_known_args(argv)  # the rest goes to snakemake
    args = (
        args if any(a.startswith("--cores") or a == "-c" for a in args) else ["--cores", "2", *args]
    )
    result = chaos_run(
        options.workdir.absolute(), args, options.seed, options.kills, tuple(options.delay),
        options.snakemake_share, options.training_share, () if options.no_faults else FAULTS,
        options.reference and options.reference.absolute(), patience=options.patience,
    )  # fmt: skip
    print(report(result))
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
