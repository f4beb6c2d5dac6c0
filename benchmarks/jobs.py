"""Job-queue scenarios: no-op jobs/s and submit->result latency, beside arq, Dramatiq and Celery.

Every system runs the same no-op job with the same concurrency (`WORKERS`)
and is warmed up by one job before the clock starts, so worker start-up is
never timed. Throughput submits every job, then waits for every result;
latency submits one job at a time and waits for its result before the next.
The peers live in `benchmarks.jobpeers`; they need the local Redis and show
as n/a without it.
"""

from __future__ import annotations

import math
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio
import attrs
from anyio.streams.memory import MemoryObjectReceiveStream

from actorlib import ActorSystem
from actorlib.jobs import JobQueue
from benchmarks._percentiles import median_keeping, percentile, take_kept
from benchmarks._scenario import Measure, Scenario
from benchmarks.jobpeers import peers

#: Jobs run at once, in every system (actorlib workers, arq max_jobs, threads).
WORKERS = 8


async def noop() -> None:
    """The job: nothing, so what is measured is the queue."""


def median_ms(system: str, jobs: int, seconds: list[float]) -> float:
    """The median of `seconds` in ms, kept for the p99 run (see `benchmarks._percentiles`)."""
    return median_keeping(system, jobs, seconds) * 1e3


def p99_ms(seconds: list[float]) -> float:
    """The 99th percentile of `seconds`, in ms."""
    return percentile(seconds, 0.99) * 1e3


def _store_urls(directory: str) -> dict[str, str]:
    return {"memory": "memory", "sqlite": f"sqlite:///{Path(directory) / 'jobs.db'}"}


async def _actorlib_throughput(store: str, jobs: int) -> float:
    with tempfile.TemporaryDirectory() as directory:
        async with (
            ActorSystem("bench-jobs") as system,
            JobQueue(system, store=_store_urls(directory)[store], workers=WORKERS) as queue,
        ):
            await (await queue.submit(noop)).result()
            start = time.perf_counter()
            handles = [await queue.submit(noop) for _ in range(jobs)]
            for handle in handles:
                await handle.result()
            return time.perf_counter() - start


async def _actorlib_latencies(store: str, jobs: int) -> list[float]:
    with tempfile.TemporaryDirectory() as directory:
        async with (
            ActorSystem("bench-jobs") as system,
            JobQueue(system, store=_store_urls(directory)[store], workers=WORKERS) as queue,
        ):
            await (await queue.submit(noop)).result()
            latencies = []
            for _ in range(jobs):
                start = time.perf_counter()
                await (await queue.submit(noop)).result()
                latencies.append(time.perf_counter() - start)
            return latencies


async def memory_throughput(jobs: int) -> float:
    """actorlib.jobs with the memory store: seconds to submit `jobs` no-ops and get each result."""
    return await _actorlib_throughput("memory", jobs)


async def sqlite_throughput(jobs: int) -> float:
    """The same on the SQLite store (a temporary file): each job committed before submit returns."""
    return await _actorlib_throughput("sqlite", jobs)


@attrs.define
class _Slot:
    """Where a raw worker puts one job's result; the submitter waits on `ready`."""

    ready: anyio.Event = attrs.Factory(anyio.Event)
    value: object = None


_Job = tuple[Callable[[], Awaitable[object]], _Slot]


async def _raw_worker(inbox: MemoryObjectReceiveStream[_Job]) -> None:
    async for function, slot in inbox:
        slot.value = await function()
        slot.ready.set()


async def _raw_pool(body: Callable[[Callable[[], Awaitable[_Slot]]], Awaitable[float]]) -> float:
    """`WORKERS` tasks run jobs from one unbounded stream; `body` gets the submit function."""
    send, receive = anyio.create_memory_object_stream[_Job](math.inf)

    async def submit() -> _Slot:
        slot = _Slot()
        send.send_nowait((noop, slot))
        return slot

    async with anyio.create_task_group() as tg:
        for _ in range(WORKERS):
            tg.start_soon(_raw_worker, receive.clone())
        receive.close()
        try:
            elapsed = await body(submit)
        finally:
            send.close()
    return elapsed


async def raw_throughput(jobs: int) -> float:
    """A bare worker pool on an anyio stream, nothing stored: the floor of a job's cost."""

    async def body(submit: Callable[[], Awaitable[_Slot]]) -> float:
        await (await submit()).ready.wait()
        start = time.perf_counter()
        slots = [await submit() for _ in range(jobs)]
        for slot in slots:
            await slot.ready.wait()
        return time.perf_counter() - start

    return await _raw_pool(body)


async def _raw_latencies(jobs: int) -> list[float]:
    latencies: list[float] = []

    async def body(submit: Callable[[], Awaitable[_Slot]]) -> float:
        await (await submit()).ready.wait()
        for _ in range(jobs):
            start = time.perf_counter()
            await (await submit()).ready.wait()
            latencies.append(time.perf_counter() - start)
        return 0.0

    await _raw_pool(body)
    return latencies


async def memory_latency_p50(jobs: int) -> float:
    """Median ms from submit to result, one job at a time, memory store."""
    return median_ms("actorlib", jobs, await _actorlib_latencies("memory", jobs))


async def memory_latency_p99(jobs: int) -> float:
    """p99 ms from submit to result, one job at a time, memory store."""
    latencies = take_kept("actorlib", jobs) or await _actorlib_latencies("memory", jobs)
    return p99_ms(latencies)


async def sqlite_latency_p50(jobs: int) -> float:
    """Median ms from submit to result, one job at a time, SQLite store."""
    return median_ms("actorlib-sqlite", jobs, await _actorlib_latencies("sqlite", jobs))


async def sqlite_latency_p99(jobs: int) -> float:
    """p99 ms from submit to result, one job at a time, SQLite store."""
    latencies = take_kept("actorlib-sqlite", jobs) or await _actorlib_latencies("sqlite", jobs)
    return p99_ms(latencies)


async def raw_latency_p50(jobs: int) -> float:
    """Median ms from submit to result on the bare anyio worker pool."""
    return median_ms("raw", jobs, await _raw_latencies(jobs))


async def raw_latency_p99(jobs: int) -> float:
    """p99 ms from submit to result on the bare anyio worker pool."""
    return p99_ms(take_kept("raw", jobs) or await _raw_latencies(jobs))


@attrs.frozen
class RatioToPeerAtLeast:
    """actorlib must reach at least `minimum` times the figure of the peer `peer`."""

    minimum: float
    peer: str

    def describe(self) -> str:
        return f">= {self.minimum:g}x {self.peer}"

    def is_met(self, actorlib: float, ratio: float) -> bool:
        return ratio >= self.minimum


SCENARIOS = (
    Scenario(
        name="jobs",
        unit="jobs/s",
        size=3_000,
        describe=lambda n: f"{n:,} no-op jobs, {WORKERS} workers, memory store (vs Redis peers)",
        actorlib=memory_throughput,
        raw=raw_throughput,
        target=RatioToPeerAtLeast(10.0, "arq"),
        target_versus="arq",
        peers=peers("throughput", sqlite=False),
    ),
    Scenario(
        name="jobs-sqlite",
        unit="jobs/s",
        size=3_000,
        describe=lambda n: f"{n:,} no-op jobs, {WORKERS} workers, SQLite store (vs arq on Redis)",
        actorlib=sqlite_throughput,
        raw=raw_throughput,
        target=RatioToPeerAtLeast(1.0, "arq"),
        target_versus="arq",
        peers={"arq": peers("throughput", sqlite=False)["arq"]},
    ),
    Scenario(
        name="jobs-latency",
        unit="ms p50",
        size=2_000,
        describe=lambda n: f"{n:,} single no-op jobs in turn, submit -> result, median",
        actorlib=memory_latency_p50,
        raw=raw_latency_p50,
        target=None,
        measure=Measure.AMOUNT,
        peers=peers("latency_p50", sqlite=True),
    ),
    Scenario(
        name="jobs-latency-p99",
        unit="ms p99",
        size=2_000,
        describe=lambda n: f"{n:,} single no-op jobs in turn, submit -> result, 99th percentile",
        actorlib=memory_latency_p99,
        raw=raw_latency_p99,
        target=None,
        measure=Measure.AMOUNT,
        peers=peers("latency_p99", sqlite=True),
    ),
)
