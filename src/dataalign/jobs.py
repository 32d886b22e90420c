"""Run one pipeline job with its log file: everything the job prints goes there.

Messages, progress bars and library chatter (transformers, tqdm, C extensions) are written to
the job's log, so the console keeps Snakemake's own progress. A DataAlignError ends the job with
its one-line message, in the log and on the console, without a traceback, because the message
already names the culprit and the fix; so does Ctrl-C (saying where a rerun picks up, where the
job knows); anything else keeps its traceback (in the log).
"""

from __future__ import annotations

import logging
import os
import resource
import socket
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from dataalign.errors import DataAlignError


def die_with_parent() -> None:
    """On Linux, have the kernel kill this process (SIGKILL) when the one that started it dies.

    A job's parent is the Snakemake process that runs it (locally, or inside a cluster job).
    Killed, Snakemake cannot stop its jobs; without this a trainer would go on as an orphan and
    write checkpoints into a folder a rerun then resumes from. Elsewhere it does nothing.
    """
    if not sys.platform.startswith("linux"):
        return
    import ctypes
    import signal

    parent = os.getppid()
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1: PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the parent died before the request took effect
        os.kill(os.getpid(), signal.SIGKILL)


def close_progress_bars() -> None:
    """Close the progress bars a failure left open (the Trainer's, on Ctrl-C) while their output
    still goes to the log; left to the garbage collector, they redraw on the console."""
    tqdm = sys.modules.get("tqdm")
    if tqdm is not None:
        for bar in list(tqdm.tqdm._instances):
            bar.close()


@contextmanager
def job_logging(log_file: str | Path) -> Iterator[logging.Logger]:
    """Redirect the job's stdout and stderr (file descriptors included) to `log_file`; the job
    dies with the Snakemake process that started it (`die_with_parent`)."""
    die_with_parent()
    Path(log_file).parent.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger("dataalign")
    root.setLevel(logging.INFO)
    sys.stdout.flush()
    sys.stderr.flush()
    console = {fd: os.dup(fd) for fd in (1, 2)}
    failure, status = None, 1
    with open(log_file, "w") as log:
        for fd in console:
            os.dup2(log.fileno(), fd)
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
        slurm = os.environ.get("SLURM_JOB_ID")
        root.info("%s on %s", f"Slurm job {slurm}" if slurm else "local", socket.gethostname())
        try:
            yield root
        except DataAlignError as error:
            root.error("%s", error)
            failure = str(error)
        except KeyboardInterrupt as error:
            failure, status = f"interrupted by Ctrl-C {error}".strip(), 130  # 128 + SIGINT
            root.error("%s", failure)
        except Exception:
            root.exception("job failed")
            failure = f"job failed; the traceback is in {log_file}"
        finally:
            close_progress_bars()
            root.removeHandler(handler)
            sys.stdout.flush()
            sys.stderr.flush()
            for fd, saved in console.items():
                os.dup2(saved, fd)
                os.close(saved)
    if failure is not None:
        print(failure, file=sys.stderr)
        raise SystemExit(status)


@contextmanager
def measured() -> Iterator[dict[str, float]]:
    """Wall time of the block and the job's peak memory after it (resident; GPU where CUDA ran),
    filled into the dict it yields."""
    usage: dict[str, float] = {}
    start = time.perf_counter()
    yield usage
    usage["wall_s"] = round(time.perf_counter() - start, 3)
    usage["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available() and torch.cuda.is_initialized():
        usage["peak_gpu_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)


# A job's named inputs that come in families, one per dataset, train seed or panel member: the plan
# names them with `keyed`, the job reads a family back with `prefixed`.
ROWS_INPUTS = "rows_"  # each dataset's rows
TRAIN_INPUTS = "train_"  # each train seed's embedding
PANEL_INPUTS = "panel_"  # each panel member's scores


def keyed(prefix: str, values: Mapping[Any, str]) -> dict[str, str]:
    """A family of named inputs: `{prefix}{key}` for each key of `values`."""
    return {f"{prefix}{key}": value for key, value in values.items()}


def prefixed(inputs: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    """A family of a job's named inputs (e.g. `ROWS_INPUTS`), by the rest of each name."""
    return {
        key.removeprefix(prefix): value for key, value in inputs.items() if key.startswith(prefix)
    }
