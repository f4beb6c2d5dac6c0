"""The multi-process job scenarios on Celery: two ``celery worker`` processes, Redis as
broker and result backend (the app of `benchmarks.jobpeers.celery_`).

Each worker runs a pool of `PER_PROCESS` threads, without gossip, mingle and
heartbeats (Celery's own advice for a fast start; none of them is on the
path of a job). This process only sends and waits for results, with
``AsyncResult.get()``; every result is kept until the run ends (see
`benchmarks.jobpeers.celery_`).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

from celery import group
from celery.result import AsyncResult

from benchmarks._percentiles import take_kept
from benchmarks._processes import PER_PROCESS, running
from benchmarks.jobpeers import _redis
from benchmarks.jobpeers.celery_ import app, noop
from benchmarks.jobs import median_ms, p99_ms

_COMMAND = [
    *("celery", "-A", "benchmarks.jobpeers.celery_", "worker", "--pool", "threads"),
    *("--concurrency", str(PER_PROCESS), "--loglevel", "WARNING"),
    *("--without-gossip", "--without-mingle", "--without-heartbeat"),
]


def _result(result: AsyncResult[Any]) -> object:
    return result.get(timeout=_redis.WAIT_SECONDS)


@contextlib.contextmanager
def _workers() -> Iterator[None]:
    """A flushed database and two running worker processes that have run jobs."""
    with app.connection() as connection:
        connection.default_channel.client.flushdb()
    with running(_COMMAND):
        # One job per process, so that neither starts while the clock runs.
        for warm_up in [noop.delay() for _ in range(4)]:
            _result(warm_up)
        yield


def throughput(jobs: int) -> float:
    """Send `jobs` no-ops one by one, then wait for each result; seconds taken."""
    with _workers():
        start = time.perf_counter()
        results = [noop.delay() for _ in range(jobs)]
        for result in results:
            _result(result)
        return time.perf_counter() - start


def batch_throughput(jobs: int) -> float:
    """Send `jobs` no-ops as one ``group``, then wait for each result; seconds taken."""
    with _workers():
        start = time.perf_counter()
        results = group(noop.s() for _ in range(jobs)).apply_async()
        for result in results.results:
            _result(result)
        return time.perf_counter() - start


def _latencies(jobs: int) -> list[float]:
    kept = []  # see benchmarks.jobpeers.celery_
    with _workers():
        latencies = []
        for _ in range(jobs):
            start = time.perf_counter()
            result = noop.delay()
            _result(result)
            latencies.append(time.perf_counter() - start)
            kept.append(result)
    return latencies


def latency_p50(jobs: int) -> float:
    """Median ms from delay() to result, one job at a time."""
    return median_ms("celery", jobs, _latencies(jobs))


def latency_p99(jobs: int) -> float:
    """p99 ms from delay() to result, one job at a time."""
    return p99_ms(take_kept("celery", jobs) or _latencies(jobs))
