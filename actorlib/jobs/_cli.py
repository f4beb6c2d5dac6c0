"""The command line: ``python -m actorlib.jobs worker|status``; knows queues only by their API."""

from __future__ import annotations

import argparse
import datetime
import importlib
import os
import signal
import sqlite3
import sys
import threading
import time
from typing import TextIO

import anyio

from .._run import run
from .._system import ActorSystem
from ._errors import JobStoreUnavailableError, short_error
from ._model import JobInfo, JobStatus
from ._postgres import PostgresStore
from ._queue import JobQueue
from ._sqlite import SqliteStore
from ._statistics import JobCounts
from ._store import open_store


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = _parser()
    options = parser.parse_args(argv)
    if options.command == "worker":
        problem = _check_worker(options)
        if problem is not None:
            parser.error(problem)
    try:
        if options.command == "worker":
            interrupted: list[bool] = []
            status = int(run(_work, options, interrupted, backend=options.backend) or 0)
            if any(interrupted):
                _leave_abandoned_threads(status)
            return status
        return int(run(_status, options, backend="asyncio") or 0)
    except (OSError, ValueError, sqlite3.Error) as error:
        # A bad store (path, URL, file) or one that cannot be reached (a
        # JobStoreUnavailableError is a ConnectionError) is the user's to fix: say so
        # without a traceback.
        print(f"{parser.prog}: error: {error}", file=sys.stderr)
        return 1


def _leave_abandoned_threads(status: int) -> None:
    """Exit now if thread jobs interrupted after the grace period still run (called
    only after the drain gave up on some jobs: idle worker threads are no reason).

    Their jobs are back in the queue and a thread cannot be stopped: waiting
    for them (as the interpreter does at exit) would keep a drained worker
    alive for as long as they run.
    """
    current = threading.current_thread()
    left = [t for t in threading.enumerate() if t is not current and not t.daemon and t.is_alive()]
    if left:
        print(
            f"exiting without waiting for {len(left)} threads of interrupted jobs "
            f"(their jobs are back in the queue)",
            file=sys.stderr,
            flush=True,
        )
        sys.stdout.flush()
        os._exit(status)


def _check_worker(options: argparse.Namespace) -> str | None:
    """Why the worker must not start, or None.

    A worker that cannot find the job functions would fail every job it
    claims (and the jobs with it), so it refuses to start instead: each
    ``--import`` must import and define at least one function of its own (a
    module that only imports others names no job function), and each
    ``--require`` must name a callable.
    """
    if options.workers < 1:
        return f"--workers must be at least 1, got {options.workers}"
    if not options.imports and not options.require:
        return (
            "name the module of the job functions with --import MODULE (a worker without "
            "them would fail every job it takes)"
        )
    for name in options.imports:
        try:
            module = importlib.import_module(name)
        except ImportError as error:
            return f"--import {name}: {error}"
        own = [
            value
            for value in vars(module).values()
            if callable(value) and getattr(value, "__module__", None) == module.__name__
        ]
        if not own:
            return (
                f"--import {name}: the module defines no function or class, so it holds no "
                f"job function; import the module that defines them (or check with "
                f"--require {name}.FUNCTION)"
            )
    for path in options.require:
        module_name, _, attribute = path.rpartition(".")
        if not module_name:
            return f"--require {path}: name a job function as MODULE.FUNCTION, e.g. tasks.resize"
        try:
            found = getattr(importlib.import_module(module_name), attribute, None)
        except (ImportError, ValueError) as error:
            return f"--require {path}: {error}"
        if not callable(found):
            return f"--require {path}: {module_name} has no callable {attribute!r}"
    return None


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
    worker.add_argument(
        "--require",
        action="append",
        default=[],
        metavar="MODULE.FUNCTION",
        help="refuse to start unless this job function can be found; repeatable",
    )
    worker.add_argument("--workers", type=int, default=4, help="jobs run at once (default 4)")
    worker.add_argument(
        "--lease",
        type=float,
        default=None,
        help=(
            "seconds a running job stays this worker's without news from it; renewed every "
            "poll (default: 30 on PostgreSQL, where a dead worker's lock gives its jobs back at "
            "once; 3 on SQLite, where the lease is how they come back)"
        ),
    )
    worker.add_argument(
        "--poll-interval",
        type=float,
        default=0.5,
        help="seconds between looks at the store: leases, dead workers, new jobs (default 0.5)",
    )
    worker.add_argument(
        "--grace",
        type=float,
        default=30.0,
        help=(
            "on SIGTERM or SIGINT, seconds running jobs get to finish before they are put back "
            "in the queue (default 30)"
        ),
    )
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


#: The default lease of a worker by store URL scheme (see --lease).
_LEASES = {"sqlite": 3.0, "postgresql": 30.0, "postgres": 30.0}


async def _work(options: argparse.Namespace, interrupted: list[bool]) -> int:
    """Run the worker; append to *interrupted* whether the drain gave up on running jobs."""
    display = None if options.no_progress else _display(sys.stderr)
    since = time.time()  # a durable store's clock: wall-clock seconds
    lease = options.lease
    if lease is None:
        lease = max(_LEASES.get(options.store.partition(":")[0], 30.0), 2 * options.poll_interval)
    async with ActorSystem("jobs-worker") as system:
        queue = await JobQueue.start(
            system,
            store=options.store,
            workers=options.workers,
            name=options.name,
            rate_limit=options.rate_limit,
            lease=lease,
            poll_interval=options.poll_interval,
        )
        signalled = False
        try:
            with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                async with anyio.create_task_group() as tg:

                    async def stop_on_signal() -> None:
                        nonlocal signalled
                        async for _ in signals:
                            signalled = True
                            tg.cancel_scope.cancel()  # then drain: see below
                            return

                    tg.start_soon(stop_on_signal)
                    await _follow(queue, options, display, since, tg.cancel_scope)
        finally:
            # No new claims from here; running jobs get the grace period, then
            # go back to the queue. A second signal (the default handler is
            # back) kills the process: its jobs come back as a dead worker's.
            running = queue.statistics().running_here
            if signalled:
                print(
                    f"draining: {running} running jobs get {options.grace:g} s to finish; "
                    f"no new jobs are taken",
                    file=sys.stderr,
                    flush=True,
                )
            with anyio.CancelScope(shield=True):
                await queue.close(grace=options.grace)
            interrupted.append(queue.interrupted_at_close)
            if signalled:
                print("drained", file=sys.stderr, flush=True)
    if display is not None:
        display.close()
    return 0


async def _follow(
    queue: JobQueue,
    options: argparse.Namespace,
    display: _LineDisplay | _TqdmDisplay | None,
    since: float,
    scope: anyio.CancelScope,
) -> None:
    """Show the store's counts and new failures until *scope* is cancelled."""
    failures = _Failures(queue, since)
    while True:
        try:
            stats = await queue.counts()
            lines = await failures.new(stats.failed)
        except JobStoreUnavailableError:
            await anyio.sleep(0.5)  # the queue logs the outage, and rides it out
            continue
        for line in lines:
            if display is None:
                print(line, file=sys.stderr)
            else:
                display.note(line)
        if display is not None:
            display.show(stats)
        if options.burst and not (stats.queued + stats.running + stats.retrying):
            scope.cancel()
        await anyio.sleep(0.5)


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
        recent = await self.queue.dead_letters(self.limit)
        self.failed = failed  # only now: a store that cannot be reached is asked again
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
    # Read only: a status neither makes a store (a typo would report nothing,
    # quietly) nor recovers jobs, which is a worker's business.
    if isinstance(store, SqliteStore):
        store = SqliteStore(store.path, read_only=True)
    elif isinstance(store, PostgresStore):
        store = PostgresStore(options.store, read_only=True)
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
