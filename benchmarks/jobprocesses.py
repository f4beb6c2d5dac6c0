"""Jobs across processes: one producer, two worker processes, 3,000 no-op jobs.

This process submits and waits for results and runs no job (``JobQueue(...,
workers=0)``); two ``python -m actorlib.jobs worker`` processes, four jobs at
once each, run them. The same split for every peer: Celery (Redis broker and
results), Dramatiq (RabbitMQ broker, Redis results) and procrastinate (on
PostgreSQL, like actorlib's row), each with two worker processes of four.
Worker start-up is never timed: one job goes through before the clock starts.

- **jobs-processes**: jobs/s, submitting every job one by one, then waiting for
  every result;
- **jobs-processes-batch**: the same, with the 3,000 jobs submitted at once
  through each system's batch call (``submit_many``, Celery's ``group``,
  Dramatiq's ``group``, procrastinate's ``batch_defer_async``);
- **jobs-processes-latency** (and **-p99**): one job at a time, submit ->
  result as the producer sees it.

actorlib's row is the PostgreSQL store (``$ACTORLIB_TEST_POSTGRES``, default
``postgresql://postgres@127.0.0.1:5432/postgres``; a fresh schema per run,
dropped after it); ``actorlib-sqlite`` is the same on one SQLite file, where
the queues learn of new jobs and outcomes by polling (every 5 ms here; the
default is 0.5 s for workers, 1 s for producers).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

from actorlib import ActorSystem
from actorlib.jobs import JobQueue
from benchmarks._percentiles import take_kept
from benchmarks._processes import PER_PROCESS, running
from benchmarks._scenario import Ahead, Measure, Peer, Scenario
from benchmarks.jobs import (
    RatioToPeerAtLeast,
    median_ms,
    noop,
    p99_ms,
    raw_latency_p50,
    raw_latency_p99,
    raw_throughput,
)

POSTGRES = os.environ.get("ACTORLIB_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
#: SQLite has no notifications: every queue looks at the file this often.
SQLITE_POLL = 0.005


@contextlib.contextmanager
def _store(kind: str) -> Iterator[str]:
    """A store URL nobody used before: a new schema, or a new SQLite file."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as directory:
            yield f"sqlite:///{Path(directory) / 'jobs.db'}"
        return
    import psycopg

    schema = f"bench_{secrets.token_hex(6)}"
    try:
        yield f"{POSTGRES}{'&' if '?' in POSTGRES else '?'}schema={schema}"
    finally:
        with psycopg.connect(POSTGRES, autocommit=True) as connection:
            connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@contextlib.asynccontextmanager
async def _producer(kind: str) -> AsyncIterator[JobQueue]:
    """A submit-only queue, with the worker processes running and warmed up."""
    poll = ["--poll-interval", str(SQLITE_POLL)] if kind == "sqlite" else []
    # The producer's own default: 1 s (PostgreSQL notifies it; SQLite is looked at).
    every = SQLITE_POLL if kind == "sqlite" else 1.0
    with _store(kind) as url:
        command = ["actorlib.jobs", "worker", "--store", url, "--import", "benchmarks.jobs"]
        command += ["--workers", str(PER_PROCESS), "--no-progress", *poll]
        # The schema exists before the workers race to create it.
        async with (
            # No watchdog: stopping the worker processes waits for them on the
            # loop (after the timed part), which it would rightly report.
            ActorSystem("bench-producer", slow_callback=None) as system,
            JobQueue(system, store=url, workers=0, poll_interval=every) as queue,
        ):
            with running(command):
                await (await queue.submit(noop)).result()
                yield queue


async def _throughput(kind: str, jobs: int) -> float:
    async with _producer(kind) as queue:
        start = time.perf_counter()
        handles = [await queue.submit(noop) for _ in range(jobs)]
        for handle in handles:
            await handle.result()
        return time.perf_counter() - start


async def _batch_throughput(kind: str, jobs: int) -> float:
    async with _producer(kind) as queue:
        start = time.perf_counter()
        handles = await queue.submit_many(noop, [()] * jobs)
        for handle in handles:
            await handle.result()
        return time.perf_counter() - start


async def _latencies(kind: str, jobs: int) -> list[float]:
    async with _producer(kind) as queue:
        latencies = []
        for _ in range(jobs):
            start = time.perf_counter()
            await (await queue.submit(noop)).result()
            latencies.append(time.perf_counter() - start)
        return latencies


async def postgres_throughput(jobs: int) -> float:
    """Seconds to submit `jobs` no-ops one by one and get every result, PostgreSQL store."""
    return await _throughput("postgres", jobs)


async def sqlite_throughput(jobs: int) -> float:
    """The same on one SQLite file."""
    return await _throughput("sqlite", jobs)


async def postgres_batch_throughput(jobs: int) -> float:
    """Seconds to submit `jobs` no-ops in one `submit_many` and get every result, PostgreSQL."""
    return await _batch_throughput("postgres", jobs)


async def sqlite_batch_throughput(jobs: int) -> float:
    """The same on one SQLite file."""
    return await _batch_throughput("sqlite", jobs)


async def postgres_latency_p50(jobs: int) -> float:
    """Median ms from submit to result, one job at a time, PostgreSQL store."""
    return median_ms("actorlib", jobs, await _latencies("postgres", jobs))


async def postgres_latency_p99(jobs: int) -> float:
    """p99 ms from submit to result, one job at a time, PostgreSQL store."""
    return p99_ms(take_kept("actorlib", jobs) or await _latencies("postgres", jobs))


async def sqlite_latency_p50(jobs: int) -> float:
    """Median ms from submit to result, one job at a time, SQLite store."""
    return median_ms("actorlib-sqlite", jobs, await _latencies("sqlite", jobs))


async def sqlite_latency_p99(jobs: int) -> float:
    """p99 ms from submit to result, one job at a time, SQLite store."""
    return p99_ms(take_kept("actorlib-sqlite", jobs) or await _latencies("sqlite", jobs))


def _peers(function: str) -> dict[str, Peer]:
    """actorlib on SQLite, and every peer's variant named `function`, split the same way."""
    return {
        "actorlib-sqlite": Peer("benchmarks.jobprocesses", f"sqlite_{function}", install=""),
        "celery": Peer(
            "benchmarks.jobpeers.celery_processes",
            function,
            install="celery[redis]",
            own_runtime=True,
        ),
        "dramatiq": Peer(
            "benchmarks.jobpeers.dramatiq_processes",
            function,
            install="dramatiq[rabbitmq,redis]",
            own_runtime=True,
        ),
        "procrastinate": Peer(
            "benchmarks.jobpeers.procrastinate_",
            function,
            install="procrastinate",
            backends=("asyncio",),
        ),
    }


_SPLIT = "1 producer + 2 worker processes x 4"
SCENARIOS = (
    Scenario(
        name="jobs-processes",
        unit="jobs/s",
        size=3_000,
        describe=lambda n: f"{n:,} no-op jobs, {_SPLIT}, PostgreSQL store",
        actorlib=postgres_throughput,
        raw=raw_throughput,
        target=RatioToPeerAtLeast(2.0, "celery"),
        target_versus="celery",
        peers=_peers("throughput"),
        peer_targets={"procrastinate": Ahead(1)},
    ),
    Scenario(
        name="jobs-processes-batch",
        unit="jobs/s",
        size=3_000,
        describe=lambda n: f"{n:,} no-op jobs submitted as one batch, {_SPLIT}, PostgreSQL store",
        actorlib=postgres_batch_throughput,
        raw=raw_throughput,
        target=RatioToPeerAtLeast(2.0, "celery"),
        target_versus="celery",
        peers=_peers("batch_throughput"),
        peer_targets={"procrastinate": Ahead(1)},
    ),
    Scenario(
        name="jobs-processes-latency",
        unit="ms p50",
        size=1_000,
        describe=lambda n: f"{n:,} single no-op jobs in turn, {_SPLIT}, submit -> result, median",
        actorlib=postgres_latency_p50,
        raw=raw_latency_p50,
        target=None,
        measure=Measure.AMOUNT,
        peers=_peers("latency_p50"),
    ),
    Scenario(
        name="jobs-processes-latency-p99",
        unit="ms p99",
        size=1_000,
        describe=lambda n: f"{n:,} single no-op jobs in turn, {_SPLIT}, submit -> result, p99",
        actorlib=postgres_latency_p99,
        raw=raw_latency_p99,
        target=None,
        measure=Measure.AMOUNT,
        peers=_peers("latency_p99"),
    ),
)
