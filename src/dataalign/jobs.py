"""Run one pipeline job with its log file: progress and messages to the log and the console.

A DataAlignError ends the job with its one-line message and no traceback, because the message
already names the culprit and the fix; anything else keeps its traceback for debugging.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from dataalign.errors import DataAlignError


@contextmanager
def job_logging(log_file: str | Path) -> Iterator[logging.Logger]:
    """Send `dataalign` logging to `log_file` and stderr for the duration of a job."""
    Path(log_file).parent.mkdir(parents=True, exist_ok=True)
    handlers = [logging.FileHandler(log_file, mode="w"), logging.StreamHandler(sys.stderr)]
    formatter = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    root = logging.getLogger("dataalign")
    root.setLevel(logging.INFO)
    for handler in handlers:
        handler.setFormatter(formatter)
        root.addHandler(handler)
    where = f"Slurm job {os.environ['SLURM_JOB_ID']}" if "SLURM_JOB_ID" in os.environ else "local"
    root.info("%s on %s", where, socket.gethostname())
    try:
        yield root
    except DataAlignError as error:
        root.error("%s", error)
        raise SystemExit(1) from None
    except Exception:
        root.exception("job failed")
        raise SystemExit(1) from None
    finally:
        for handler in handlers:
            root.removeHandler(handler)
            handler.close()
