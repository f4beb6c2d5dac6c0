"""Worker processes for the multi-process job scenarios: start them, and always stop them.

Every system in those scenarios runs the same split: this process only
submits and waits for results, and `PROCESSES` worker processes, each running
`PER_PROCESS` jobs at once, do the work. The commands differ (actorlib's
worker CLI, ``celery worker``, ``dramatiq``, ``procrastinate worker``); how
they are started and stopped does not.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: Worker processes per run, and jobs each runs at once (8 in all, as `jobs.WORKERS`).
PROCESSES = 2
PER_PROCESS = 4
#: Seconds a worker gets to exit after SIGTERM before it is SIGKILLed.
STOP_SECONDS = 10.0


@contextlib.contextmanager
def running(command: Sequence[str], *, env: dict[str, str] | None = None) -> Iterator[None]:
    """`PROCESSES` copies of *command* (a Python module run with this interpreter's
    ``-m``, from the repository root) until the block ends; their output goes to a
    temporary log, shown if one of them exits early."""
    environment = {**os.environ, **(env or {})}
    environment["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT), environment.get("PYTHONPATH", "")) if p
    )
    with tempfile.TemporaryFile() as log:
        workers = [
            subprocess.Popen(
                [sys.executable, "-m", *command],
                cwd=ROOT,
                env=environment,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            for _ in range(PROCESSES)
        ]
        try:
            yield
            for worker in workers:
                if worker.poll() is not None:
                    log.seek(0)
                    tail = log.read()[-2000:].decode(errors="replace")
                    raise RuntimeError(f"{command[0]} worker exited early:\n{tail}")
        finally:
            _stop(workers)


def _stop(workers: list[subprocess.Popen[bytes]]) -> None:
    for worker in workers:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
    for worker in workers:
        try:
            worker.wait(STOP_SECONDS)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
