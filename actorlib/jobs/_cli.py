"""The command line: ``python -m actorlib.jobs worker|status``; knows queues only by their API."""

from __future__ import annotations

import argparse
import datetime
import importlib
import signal
import sqlite3
import sys
import time
from typing import TextIO

import anyio

from .._run import run
from .._system import ActorSystem
from ._joblog import short_error
from ._model import JobInfo, JobStatus
from ._queue import JobQueue
from ._sqlite import SqliteStore
from ._statistics import JobCounts
from ._store import open_store


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = _parser()
    options = parser.parse_args(argv)
    if options.command == "worker":
        for module in options.imports:
            try:
                importlib.import_module(module)
            except ImportError as error:
                parser.error(f"--import {module}: {error}")
    try:
        if options.command == "worker":
            return int(run(_work, options, backend=options.backend) or 0)
        return int(run(_status, options, backend="asyncio") or 0)
    except (OSError, ValueError, sqlite3.Error) as error:
        # A bad store (path, URL, file) is the user's to fix: say so without a traceback.
        print(f"{parser.prog}: error: {error}", file=sys.stderr)
        return 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m actorlib.jobs", description="Run or inspect a durable actorlib job queue."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    worker = commands.add_parser("worker", help="run the jobs of a store until interrupted")
    worker.add_argument("--store", required=True, help="e.g. sqlite:///jobs.db")
    worker.add_argument(
        "--import",
        dest="imports",
        action="append",
        default=[],
        metavar="MODULE",
        help="import this module first (where the job functions live); repeatable",
    )
    worker.add_argument("--workers", type=int, default=4, help="jobs run at once (default 4)")
    worker.add_argument("--name", default="jobs", help="the queue's name (default jobs)")
    worker.add_argument("--rate-limit", type=float, default=None, help="job starts per second")
    worker.add_argument(
        "--burst", action="store_true", help="exit once no job waits or runs in the store"
    )
    worker.add_argument("--no-progress", action="store_true", help="print no progress display")
    worker.add_argument("--backend", choices=("asyncio", "trio"), default="asyncio")
    status = commands.add_parser("status", help="print job counts and the failed jobs")
    status.add_argument("--store", required=True, help="e.g. sqlite:///jobs.db")
    status.add_argument("--failed", type=int, default=20, help="how many failed jobs to list")
    return parser


async def _work(options: argparse.Namespace) -> int:
    display = None if options.no_progress else _display(sys.stderr)
    since = time.time()  # a durable store's clock: wall-clock seconds
    async with (
        ActorSystem("jobs-worker") as system,
        JobQueue(
            system,
            store=options.store,
            workers=options.workers,
            name=options.name,
            rate_limit=options.rate_limit,
        ) as queue,
    ):
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async with anyio.create_task_group() as tg:

                async def stop_on_signal() -> None:
                    async for _ in signals:
                        tg.cancel_scope.cancel()  # then close: running jobs finish
                        return

                tg.start_soon(stop_on_signal)
                failures = _Failures(queue, since)
                while True:
                    stats = await queue.counts()
                    for line in await failures.new(stats.failed):
                        if display is None:
                            print(line, file=sys.stderr)
                        else:
                            display.note(line)
                    if display is not None:
                        display.show(stats)
                    if options.burst and not (stats.queued + stats.running + stats.retrying):
                        tg.cancel_scope.cancel()
                    await anyio.sleep(0.5)
    if display is not None:
        display.close()
    return 0


class _Failures:
    """The jobs that failed for good since the worker started: each shown once, newest last."""

    def __init__(self, queue: JobQueue, since: float, limit: int = 10) -> None:
        self.queue = queue
        self.since = since  # earlier failures are `status`'s to list
        self.limit = limit
        self.failed: int | None = None  # the store's count when last looked
        self.seen: set[str] = set()

    async def new(self, failed: int) -> list[str]:
        """Lines for the failures not shown yet (asks the store only when the count moved)."""
        if failed == self.failed:
            return []
        self.failed = failed
        recent = await self.queue.dead_letters(self.limit)
        fresh = [
            info
            for info in reversed(recent)
            if info.id not in self.seen and (info.finished_at or 0.0) >= self.since
        ]
        self.seen.update(info.id for info in recent)
        return [failure_line(info) for info in fresh]


def failure_line(info: JobInfo) -> str:
    """``failed <id> <name> at <when> attempts=<n>: <Type: message>`` (the message cut short)."""
    return (
        f"failed {info.id} {info.name} at {_when(info.finished_at)} "
        f"attempts={info.attempts}: {short_error(info.error)}"
    )


def _when(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    if seconds > 1e9:  # a durable store's wall-clock time
        stamp = datetime.datetime.fromtimestamp(seconds).astimezone()
        return stamp.isoformat(timespec="seconds")
    return f"t={seconds:.3f}"  # the memory store's Clock


async def _status(options: argparse.Namespace) -> int:
    store = open_store(options.store, lambda: 0.0)
    if isinstance(store, SqliteStore):
        store = SqliteStore(store.path, read_only=True)
    await store.open("status")
    try:
        counts = await store.counts()
        print(" ".join(f"{status.value}={counts[status]}" for status in JobStatus))
        for record in await store.failed(options.failed):
            print(failure_line(record.info()))
    finally:
        await store.close()
    return 0


class _LineDisplay:
    """One line of counts, rewritten in place on a terminal, printed on change otherwise."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.last = ""

    def show(self, stats: JobCounts) -> None:
        line = (
            f"queued {stats.queued + stats.retrying} | running {stats.running} | "
            f"done {stats.succeeded} | failed {stats.failed} | cancelled {stats.cancelled}"
        )
        if line == self.last:
            return
        self.last = line
        if self.stream.isatty():
            self.stream.write("\r" + line + "\x1b[K")
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def note(self, line: str) -> None:
        """Print *line* above the counts."""
        prefix = "\r\x1b[K" if self.stream.isatty() else ""
        self.stream.write(prefix + line + "\n")
        self.last = ""  # show the counts again below it
        self.stream.flush()

    def close(self) -> None:
        if self.stream.isatty():
            self.stream.write("\n")


class _TqdmDisplay:
    """A tqdm bar of finished jobs, with the other counts beside it."""

    def __init__(self, stream: TextIO) -> None:
        from tqdm import tqdm

        self.bar = tqdm(total=0, unit="job", file=stream, desc="jobs")

    def show(self, stats: JobCounts) -> None:
        done = stats.succeeded + stats.failed + stats.cancelled
        self.bar.total = done + stats.queued + stats.retrying + stats.running
        self.bar.n = done
        self.bar.set_postfix(
            queued=stats.queued + stats.retrying, running=stats.running, failed=stats.failed
        )

    def note(self, line: str) -> None:
        """Print *line* above the bar."""
        self.bar.write(line, file=self.bar.fp)

    def close(self) -> None:
        self.bar.close()


def _display(stream: TextIO) -> _LineDisplay | _TqdmDisplay:
    try:
        return _TqdmDisplay(stream) if stream.isatty() else _LineDisplay(stream)
    except ImportError:  # tqdm is optional: the plain line says the same
        return _LineDisplay(stream)
