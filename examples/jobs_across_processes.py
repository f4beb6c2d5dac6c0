"""Jobs across processes: a producer that runs nothing, two worker processes, one killed.

Two ``python -m actorlib.jobs worker`` processes share a PostgreSQL store (or a
SQLite file with ``--store sqlite``). This program submits 24 "render" jobs from
a queue with ``workers=0``: it only submits and follows them, with a live
progress line. Halfway, one worker process is SIGKILLed with jobs in hand; the
other takes them over (PostgreSQL: as soon as the dead worker's advisory lock
is free; SQLite: when their short lease lapses). Every job ends done; the last
worker is then stopped with SIGTERM and drains.

Run it with ``python examples/jobs_across_processes.py`` (PostgreSQL at
``$ACTORLIB_TEST_POSTGRES``, default ``postgresql://postgres@127.0.0.1:5432/postgres``;
the jobs live in a schema of their own, dropped at the end), or add
``--store sqlite``; ``--backend trio`` runs the producer on trio.
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import anyio

import actorlib
from actorlib import ActorSystem
from actorlib.jobs import JobHandle, JobQueue, report_progress

HERE = Path(__file__).resolve().parent
JOBS = 24


def render(frame: int) -> tuple[int, int]:
    """A job: four steps of "work", each reported; returns frame squared and who ran it."""
    for step in range(1, 5):
        time.sleep(0.1)
        report_progress(step, 4, note=f"frame {frame}")
    return frame * frame, os.getpid()


def start_worker(store: str, backend: str) -> subprocess.Popen[bytes]:
    """``python -m actorlib.jobs worker`` on *store*, running this module's functions."""
    paths = [str(HERE), str(HERE.parent), os.environ.get("PYTHONPATH", "")]
    return subprocess.Popen(
        [
            *(sys.executable, "-m", "actorlib.jobs", "worker", "--store", store),
            *("--import", "jobs_across_processes", "--workers", "3", "--no-progress"),
            *("--backend", backend),
        ],
        env={**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p)},
        stdout=subprocess.DEVNULL,
    )


class ProgressLine:
    """One line: jobs done, and how far the running ones have got; rewritten in place on a
    terminal, printed when it changes otherwise."""

    def __init__(self) -> None:
        self.last = ""
        self.tty = sys.stdout.isatty()

    def show(self, handles: list[JobHandle[tuple[int, int]]]) -> None:
        done = sum(h.done() for h in handles)
        running = [h.info().progress for h in handles if not h.done()]
        steps = sum(p.done for p in running if p is not None)
        line = f"progress: {done}/{len(handles)} jobs done, {steps:g} steps into the others"
        if line != self.last:
            self.last = line
            print(("\r" + line + "\x1b[K") if self.tty else line, end="" if self.tty else "\n")

    def close(self) -> None:
        if self.tty:
            print()


async def produce(store: str, workers: list[subprocess.Popen[bytes]]) -> None:
    # The function as the workers import it (by its module's name), not as this
    # script's __main__: the job names the same code everywhere.
    job = importlib.import_module("jobs_across_processes").render
    async with (
        ActorSystem("producer") as system,
        JobQueue(system, store=store, workers=0, poll_interval=0.2) as producer,
    ):
        handles = await producer.submit_many(job, [(frame,) for frame in range(JOBS)])
        print(f"submitted {JOBS} jobs from a producer that runs none (workers=0)")
        line, killed = ProgressLine(), False
        with anyio.fail_after(120):
            while not all(h.done() for h in handles):
                line.show(handles)
                if not killed and sum(h.done() for h in handles) >= JOBS // 2:
                    workers[0].send_signal(signal.SIGKILL)
                    killed = True
                    line.close()
                    print(f"halfway: killed worker process {workers[0].pid} (SIGKILL)")
                await anyio.sleep(0.05)  # a display's refresh, not a synchronization
            line.show(handles)
            line.close()
        results = [await h.result() for h in handles]
        squares = [square for square, _ in results]
        print(f"all {JOBS} jobs done, results correct: {squares == [f * f for f in range(JOBS)]}")
        by_killed = sum(pid == workers[0].pid for _, pid in results)
        by_other = sum(pid == workers[1].pid for _, pid in results)
        print(
            f"finished by the killed worker before it died: {by_killed}, by the other: {by_other}"
        )


def drop_schema(url: str, schema: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def main(kind: str, backend: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        if kind == "sqlite":
            store, schema = f"sqlite:///{Path(folder) / 'jobs.db'}", None
        else:
            server = os.environ.get(
                "ACTORLIB_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
            )
            schema = f"example_{uuid.uuid4().hex[:10]}"
            store = f"{server}?schema={schema}"
        workers = [start_worker(store, "asyncio"), start_worker(store, "trio")]
        try:
            print(f"started 2 worker processes on {kind}")
            actorlib.run(produce, store, workers, backend=backend)
            survivor = workers[1]
            survivor.send_signal(signal.SIGTERM)
            code = survivor.wait(timeout=60)
            print(f"stopped the other worker with SIGTERM: it drained and exited with {code}")
        finally:
            for worker in workers:
                if worker.poll() is None:
                    worker.kill()
                worker.wait()
            if schema is not None:
                drop_schema(server, schema)
    print("done")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backend", choices=["asyncio", "trio"], default="asyncio")
    parser.add_argument("--store", choices=["postgres", "sqlite"], default="postgres")
    options = parser.parse_args()
    main(options.store, options.backend)
