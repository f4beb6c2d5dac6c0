"""The multi-process job scenarios on Dramatiq: two ``dramatiq`` worker processes on
its RabbitMQ broker, results in Redis (the Results middleware).

The broker is set at import, in this process and in the workers (``dramatiq
benchmarks.jobpeers.dramatiq_processes`` imports this module), as Dramatiq's
command line expects. Each worker runs one process of `PER_PROCESS` threads.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import time
from collections.abc import Iterator

import dramatiq
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from dramatiq.results import Results
from dramatiq.results.backends import RedisBackend

from benchmarks._percentiles import take_kept
from benchmarks._processes import PER_PROCESS, running
from benchmarks._scenario import PeerUnavailableError
from benchmarks.jobpeers import _redis
from benchmarks.jobs import median_ms, p99_ms

_redis.require()
RABBITMQ = ("127.0.0.1", 5672)
try:
    socket.create_connection(RABBITMQ, timeout=1.0).close()
except OSError as exc:
    raise PeerUnavailableError(f"no RabbitMQ at {RABBITMQ[0]}:{RABBITMQ[1]}: {exc}") from exc

_WAIT_MS = int(_redis.WAIT_SECONDS * 1000)
_QUEUE = "actorlib-bench"
backend = RedisBackend(host=_redis.HOST, port=_redis.PORT, db=_redis.DB)
broker = RabbitmqBroker(host=RABBITMQ[0], port=RABBITMQ[1])
broker.add_middleware(Results(backend=backend))
dramatiq.set_broker(broker)
# Dramatiq logs every connection at INFO; the table is the output here.
logging.getLogger("dramatiq").setLevel(logging.WARNING)
logging.getLogger("pika").setLevel(logging.WARNING)


@dramatiq.actor(store_results=True, max_retries=0, queue_name=_QUEUE)
def noop() -> None:
    """The job: nothing."""


_COMMAND = [
    *("dramatiq", "benchmarks.jobpeers.dramatiq_processes"),
    *("--processes", "1", "--threads", str(PER_PROCESS), "--queues", _QUEUE),
]


def _wait(message: dramatiq.Message[None]) -> object:
    return message.get_result(backend=backend, block=True, timeout=_WAIT_MS)


@contextlib.contextmanager
def _workers() -> Iterator[None]:
    """Empty queue and results, and two running worker processes that have run jobs."""
    broker.flush(_QUEUE)
    backend.client.flushdb()
    with running(_COMMAND):
        for warm_up in [noop.send() for _ in range(4)]:
            _wait(warm_up)
        yield


def throughput(jobs: int) -> float:
    """Send `jobs` no-ops one by one, then wait for each result; seconds taken."""
    with _workers():
        start = time.perf_counter()
        messages = [noop.send() for _ in range(jobs)]
        for message in messages:
            _wait(message)
        return time.perf_counter() - start


def batch_throughput(jobs: int) -> float:
    """Send `jobs` no-ops as one ``group``, then wait for each result; seconds taken."""
    with _workers():
        start = time.perf_counter()
        batch = dramatiq.group(noop.message() for _ in range(jobs)).run()
        results = list(batch.get_results(block=True, timeout=_WAIT_MS))
        assert len(results) == jobs
        return time.perf_counter() - start


def _latencies(jobs: int) -> list[float]:
    with _workers():
        latencies = []
        for _ in range(jobs):
            start = time.perf_counter()
            _wait(noop.send())
            latencies.append(time.perf_counter() - start)
        return latencies


def latency_p50(jobs: int) -> float:
    """Median ms from send to result, one job at a time."""
    return median_ms("dramatiq", jobs, _latencies(jobs))


def latency_p99(jobs: int) -> float:
    """p99 ms from send to result, one job at a time."""
    return p99_ms(take_kept("dramatiq", jobs) or _latencies(jobs))
