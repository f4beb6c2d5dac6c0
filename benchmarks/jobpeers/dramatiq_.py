"""The job scenarios on Dramatiq: its Redis broker, with the Results middleware on Redis.

A `dramatiq.Worker` runs in this process with `WORKERS` threads, as
Dramatiq's testing guide starts one; it is started once per run and warmed
up by one job before the clock starts. Completion is measured the way a
caller of Dramatiq sees it: ``message.get_result(block=True)``, which needs
the Results middleware (``store_results=True``); without it a caller cannot
learn that a job ended.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.results import Results
from dramatiq.results.backends import RedisBackend

from benchmarks.jobpeers import _redis
from benchmarks.jobs import WORKERS, percentile_ms

_redis.require()

_broker = RedisBroker(host=_redis.HOST, port=_redis.PORT, db=_redis.DB)
_broker.add_middleware(
    Results(backend=RedisBackend(host=_redis.HOST, port=_redis.PORT, db=_redis.DB))
)
dramatiq.set_broker(_broker)
_WAIT_MS = int(_redis.WAIT_SECONDS * 1000)


@dramatiq.actor(store_results=True, max_retries=0)
def noop() -> None:
    """The job: nothing."""


def _result(message: dramatiq.Message[None]) -> object:
    return message.get_result(block=True, timeout=_WAIT_MS)


@contextlib.contextmanager
def _worker() -> Iterator[None]:
    """A flushed database and a running worker that has run one job."""
    _broker.client.flushdb()
    worker = dramatiq.Worker(_broker, worker_threads=WORKERS)
    # Dramatiq logs every worker start and stop at INFO; the table is the output here.
    logging.getLogger("dramatiq").setLevel(logging.WARNING)
    worker.start()
    try:
        _result(noop.send())
        yield
    finally:
        worker.stop()
        _broker.client.flushdb()


def throughput(jobs: int) -> float:
    """Send `jobs` no-ops, then wait for each result; seconds taken."""
    with _worker():
        start = time.perf_counter()
        messages = [noop.send() for _ in range(jobs)]
        for message in messages:
            _result(message)
        return time.perf_counter() - start


def _latencies(jobs: int) -> list[float]:
    with _worker():
        latencies = []
        for _ in range(jobs):
            start = time.perf_counter()
            _result(noop.send())
            latencies.append(time.perf_counter() - start)
        return latencies


def latency_p50(jobs: int) -> float:
    """Median ms from send to result, one job at a time."""
    return percentile_ms(_latencies(jobs), 0.5)


def latency_p99(jobs: int) -> float:
    """p99 ms from send to result, one job at a time."""
    return percentile_ms(_latencies(jobs), 0.99)
