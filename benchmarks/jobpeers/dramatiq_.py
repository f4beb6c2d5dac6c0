"""The job scenarios on Dramatiq: its Redis broker, with the Results middleware on Redis.

A `dramatiq.Worker` runs in this process with `WORKERS` threads, as
Dramatiq's testing guide starts one; it is started once per run, on a
broker of its own (a worker adds its middleware to its broker for good, so
a reused broker would grow a copy per run), and warmed up by one job before
the clock starts. Completion is measured the way a
caller of Dramatiq sees it: ``message.get_result(block=True)``, which needs
the Results middleware (``store_results=True``); without it a caller cannot
learn that a job ended.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.results import Results
from dramatiq.results.backends import RedisBackend

from benchmarks._percentiles import take_kept
from benchmarks.jobpeers import _redis
from benchmarks.jobs import WORKERS, median_ms, p99_ms

_redis.require()

_WAIT_MS = int(_redis.WAIT_SECONDS * 1000)
#: Sends one no-op job and returns a function that waits for its result.
_Send = Callable[[], Callable[[], object]]


def noop() -> None:
    """The job: nothing."""


@contextlib.contextmanager
def _worker() -> Iterator[_Send]:
    """A flushed database, a running worker that has run one job, and how to send one."""
    broker = RedisBroker(host=_redis.HOST, port=_redis.PORT, db=_redis.DB)
    backend = RedisBackend(host=_redis.HOST, port=_redis.PORT, db=_redis.DB)
    broker.add_middleware(Results(backend=backend))
    actor = dramatiq.actor(broker=broker, store_results=True, max_retries=0)(noop)

    def send() -> Callable[[], object]:
        message = actor.send()
        return lambda: message.get_result(backend=backend, block=True, timeout=_WAIT_MS)

    broker.client.flushdb()
    # worker_timeout is how often an idle consumer wakes up: it bounds how
    # long stop() waits (1 s by default), never how fast jobs are taken.
    worker = dramatiq.Worker(broker, worker_threads=WORKERS, worker_timeout=100)
    # Dramatiq logs every worker start and stop at INFO; the table is the output here.
    logging.getLogger("dramatiq").setLevel(logging.WARNING)
    worker.start()
    try:
        send()()
        yield send
    finally:
        worker.stop()
        broker.client.flushdb()
        broker.close()


def throughput(jobs: int) -> float:
    """Send `jobs` no-ops, then wait for each result; seconds taken."""
    with _worker() as send:
        start = time.perf_counter()
        results = [send() for _ in range(jobs)]
        for result in results:
            result()
        return time.perf_counter() - start


def _latencies(jobs: int) -> list[float]:
    with _worker() as send:
        latencies = []
        for _ in range(jobs):
            start = time.perf_counter()
            send()()
            latencies.append(time.perf_counter() - start)
        return latencies


def latency_p50(jobs: int) -> float:
    """Median ms from send to result, one job at a time."""
    return median_ms("dramatiq", jobs, _latencies(jobs))


def latency_p99(jobs: int) -> float:
    """p99 ms from send to result, one job at a time."""
    return p99_ms(take_kept("dramatiq", jobs) or _latencies(jobs))
