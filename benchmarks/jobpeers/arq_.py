"""The job scenarios on arq: asyncio jobs on Redis, the worker in its own process.

arq's documented way to run a worker is its command line, ``arq
module.WorkerSettings``, in a process of its own (here with a settings dict).
It is started once per run and warmed up by one job before the clock starts,
so the submitting process and the worker each get a core, as in production:
on the 2-core reference machine that measured 10-50% faster than a `Worker`
on the submitter's event loop. The settings are the fastest measured there:
`max_jobs` of `WORKERS` (100 is slower), and a `poll_delay` of 10 ms for
throughput and 2 ms for latency (the default, 0.5 s, caps a worker at a few
hundred jobs/s and adds up to half a second to each job). Results are read
with ``job.result(poll_delay=...)`` at the worker's interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from arq import ArqRedis, create_pool
from arq.connections import RedisSettings
from arq.jobs import Job

from benchmarks._percentiles import take_kept
from benchmarks.jobpeers import _redis
from benchmarks.jobs import WORKERS, median_ms, p99_ms

_redis.require()

_ROOT = Path(__file__).resolve().parent.parent.parent


async def noop(ctx: dict[str, Any]) -> None:
    """The job: nothing (arq passes every job its context)."""


_REDIS = RedisSettings(host=_redis.HOST, port=_redis.PORT, database=_redis.DB)
#: What ``arq benchmarks.jobpeers.arq_.THROUGHPUT`` runs (arq takes a dict or a
#: class; it reads a class's own ``__dict__``, so settings cannot be inherited).
THROUGHPUT: dict[str, Any] = {
    "functions": [noop],
    "redis_settings": _REDIS,
    "max_jobs": WORKERS,
    "poll_delay": 0.01,
    "keep_result": 600,
    "log_results": False,
}
#: Polls 5x as often: a single job waits for the worker's next poll.
LATENCY: dict[str, Any] = {**THROUGHPUT, "poll_delay": 0.002}
_POLL = {"THROUGHPUT": THROUGHPUT["poll_delay"], "LATENCY": LATENCY["poll_delay"]}


@contextlib.asynccontextmanager
async def _worker(settings: str) -> AsyncIterator[ArqRedis]:
    """A flushed database, a worker process on it that has run one job, and a pool to submit."""
    pool = await create_pool(_REDIS)
    await pool.flushdb()
    environment = {**os.environ, "PYTHONPATH": str(_ROOT)}
    worker = subprocess.Popen(
        [sys.executable, "-m", "arq", f"{__name__}.{settings}"],
        cwd=_ROOT,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        await _result(await _submit(pool), _POLL[settings])
        yield pool
    finally:
        worker.terminate()
        await asyncio.to_thread(worker.wait, _redis.WAIT_SECONDS)
        await pool.flushdb()
        await pool.aclose()


async def _submit(pool: ArqRedis) -> Job:
    job = await pool.enqueue_job("noop")
    assert job is not None  # None only for a job id already taken; ids are fresh here
    return job


async def _result(job: Job, poll_delay: float) -> object:
    return await job.result(timeout=_redis.WAIT_SECONDS, poll_delay=poll_delay)


async def throughput(jobs: int) -> float:
    """Enqueue `jobs` no-ops, then wait for each result; seconds taken."""
    async with _worker("THROUGHPUT") as pool:
        start = time.perf_counter()
        submitted = [await _submit(pool) for _ in range(jobs)]
        for job in submitted:
            await _result(job, THROUGHPUT["poll_delay"])
        return time.perf_counter() - start


async def _latencies(jobs: int) -> list[float]:
    async with _worker("LATENCY") as pool:
        latencies = []
        for _ in range(jobs):
            start = time.perf_counter()
            await _result(await _submit(pool), LATENCY["poll_delay"])
            latencies.append(time.perf_counter() - start)
        return latencies


async def latency_p50(jobs: int) -> float:
    """Median ms from enqueue to result, one job at a time."""
    return median_ms("arq", jobs, await _latencies(jobs))


async def latency_p99(jobs: int) -> float:
    """p99 ms from enqueue to result, one job at a time."""
    return p99_ms(take_kept("arq", jobs) or await _latencies(jobs))
