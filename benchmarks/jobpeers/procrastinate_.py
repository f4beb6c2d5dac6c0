"""The multi-process job scenarios on procrastinate: a PostgreSQL job queue, like
actorlib's PostgreSQL store, with two ``procrastinate worker`` processes.

Every run gets a database of its own (procrastinate's schema applied, dropped
after the run). procrastinate keeps no results: a caller learns that a job
ended by reading its status, so this process polls it (every 5 ms for a
batch, every 1 ms for a single job; each look is one indexed query).
The workers learn of new jobs by LISTEN/NOTIFY, procrastinate's default.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import time
from collections.abc import AsyncIterator

import anyio
import procrastinate
import psycopg

from benchmarks._percentiles import take_kept
from benchmarks._processes import PER_PROCESS, running
from benchmarks._scenario import PeerUnavailableError
from benchmarks.jobprocesses import POSTGRES
from benchmarks.jobs import median_ms, p99_ms

#: Set by this process for the workers it starts: the run's database.
_DATABASE = "ACTORLIB_BENCH_PROCRASTINATE"
app = procrastinate.App(
    connector=procrastinate.PsycopgConnector(conninfo=os.environ.get(_DATABASE, POSTGRES))
)
_COMMAND = [
    *("procrastinate", "--app", "benchmarks.jobpeers.procrastinate_.app"),
    *("worker", "--concurrency", str(PER_PROCESS)),
]
_BATCH_POLL = 0.005
_SINGLE_POLL = 0.001

try:
    psycopg.connect(POSTGRES, connect_timeout=2).close()
except psycopg.OperationalError as exc:
    raise PeerUnavailableError(f"no PostgreSQL at {POSTGRES}: {exc}") from exc


@app.task(name="noop")
async def noop() -> None:
    """The job: nothing."""


@contextlib.asynccontextmanager
async def _database() -> AsyncIterator[str]:
    name = f"bench_procrastinate_{secrets.token_hex(6)}"
    with psycopg.connect(POSTGRES, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield psycopg.conninfo.make_conninfo(POSTGRES, dbname=name)
    finally:
        with psycopg.connect(POSTGRES, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.asynccontextmanager
async def _workers() -> AsyncIterator[psycopg.AsyncConnection[tuple[object, ...]]]:
    """A fresh database, two workers that have run jobs, and a connection to poll with."""
    async with _database() as conninfo:
        connector = procrastinate.PsycopgConnector(conninfo=conninfo)
        with app.replace_connector(connector):
            async with app.open_async():
                await app.schema_manager.apply_schema_async()
                async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as look:
                    with running(_COMMAND, env={_DATABASE: conninfo}):
                        await _wait(look, [await noop.defer_async() for _ in range(4)], 0.01)
                        yield look


async def _wait(
    look: psycopg.AsyncConnection[tuple[object, ...]], ids: list[int], every: float
) -> None:
    deadline = time.monotonic() + 120
    while True:
        cursor = await look.execute(
            "SELECT count(*) FROM procrastinate_jobs WHERE id = ANY(%s) AND status = 'succeeded'",
            (ids,),
        )
        row = await cursor.fetchone()
        if row is not None and row[0] == len(ids):
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"procrastinate ran {row} of {len(ids)} jobs in 120 s")
        await anyio.sleep(every)


async def throughput(jobs: int) -> float:
    """Defer `jobs` no-ops one by one, then wait until every one succeeded; seconds taken."""
    async with _workers() as look:
        start = time.perf_counter()
        ids = [await noop.defer_async() for _ in range(jobs)]
        await _wait(look, ids, _BATCH_POLL)
        return time.perf_counter() - start


async def batch_throughput(jobs: int) -> float:
    """Defer `jobs` no-ops in one ``batch_defer_async``, then wait until every one succeeded."""
    async with _workers() as look:
        start = time.perf_counter()
        ids = await noop.batch_defer_async(*({} for _ in range(jobs)))
        await _wait(look, ids, _BATCH_POLL)
        return time.perf_counter() - start


async def _latencies(jobs: int) -> list[float]:
    async with _workers() as look:
        latencies = []
        for _ in range(jobs):
            start = time.perf_counter()
            await _wait(look, [await noop.defer_async()], _SINGLE_POLL)
            latencies.append(time.perf_counter() - start)
        return latencies


async def latency_p50(jobs: int) -> float:
    """Median ms from defer to a look that finds the job succeeded, one job at a time."""
    return median_ms("procrastinate", jobs, await _latencies(jobs))


async def latency_p99(jobs: int) -> float:
    """p99 ms from defer to a look that finds the job succeeded, one job at a time."""
    return p99_ms(take_kept("procrastinate", jobs) or await _latencies(jobs))
