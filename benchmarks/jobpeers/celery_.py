"""The job scenarios on Celery: Redis as broker and as result backend.

The worker runs in this process with a pool of `WORKERS` threads, started by
``celery.contrib.testing.worker.start_worker`` (Celery's documented way to
embed one) once per run and warmed up by one job before the clock starts.
Results are read with ``AsyncResult.get()``, which the Redis backend answers
over pub/sub. Every `AsyncResult` is kept until the run ends: one freed
inside a pub/sub call unsubscribes from its ``__del__``, re-entering the
pub/sub connection, and hangs. Prefetching is raised so the worker is never starved by its
own acknowledgements.

Celery 5.7's Redis transport needs redis-py >= 6.1, which arq (< 6) rules
out in the same environment: the bench extra pins Celery below 5.7.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

from celery import Celery
from celery.contrib.testing.worker import start_worker
from celery.result import AsyncResult

from benchmarks._percentiles import take_kept
from benchmarks.jobpeers import _redis
from benchmarks.jobs import WORKERS, median_ms, p99_ms

_redis.require()

app = Celery("actorlib-bench", broker=_redis.URL, backend=_redis.URL)
app.conf.update(
    worker_prefetch_multiplier=64,
    result_expires=600,
    worker_hijack_root_logger=False,
    broker_connection_retry_on_startup=False,
)


@app.task
def noop() -> None:
    """The job: nothing."""


def _result(result: AsyncResult[Any]) -> object:
    return result.get(timeout=_redis.WAIT_SECONDS)


@contextlib.contextmanager
def _worker() -> Iterator[None]:
    """A flushed database and a running worker that has run one job."""
    with app.connection() as connection:
        connection.default_channel.client.flushdb()
    with start_worker(
        app, pool="threads", concurrency=WORKERS, perform_ping_check=False, loglevel="WARNING"
    ):
        warm_up = noop.delay()
        _result(warm_up)
        yield


def throughput(jobs: int) -> float:
    """Send `jobs` no-ops, then wait for each result; seconds taken."""
    with _worker():
        start = time.perf_counter()
        results = [noop.delay() for _ in range(jobs)]
        for result in results:
            _result(result)
        return time.perf_counter() - start


def _latencies(jobs: int) -> list[float]:
    kept = []  # see the module's docstring
    with _worker():
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
