"""When jobs run: priorities, delays, rate limits, retries with backoff, timeouts, cancellation.

Time is virtual (VirtualClock): delays and backoff of seconds pass at once, in order.
"""

from __future__ import annotations

import datetime
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest

from actorlib import ActorSystem, Backoff
from actorlib.jobs import (
    JobCancelledError,
    JobQueue,
    JobRecord,
    JobStatus,
    JobTimeoutError,
    MemoryStore,
    Retry,
    SqliteStore,
)
from actorlib.testing import VirtualClock

pytestmark = pytest.mark.anyio


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
async def queue(clock: VirtualClock) -> AsyncIterator[JobQueue]:
    async with (
        ActorSystem("jobs", clock=clock, random_seed=1) as system,
        JobQueue(system, workers=1) as queue,
    ):
        yield queue


class Gate:
    """A first job that holds the only worker until the test opens it."""

    def __init__(self) -> None:
        self.started = anyio.Event()
        self.opened = anyio.Event()

    async def __call__(self) -> None:
        self.started.set()
        await self.opened.wait()


async def test_higher_priority_runs_first_and_equal_priorities_in_submit_order(
    queue: JobQueue,
) -> None:
    gate = Gate()
    order: list[str] = []

    async def job(tag: str) -> None:
        order.append(tag)

    await queue.submit(gate)
    await gate.started.wait()
    for tag, priority in [("a1", 1), ("b5", 5), ("c5", 5), ("d3", 3), ("e0", 0), ("f5", 5)]:
        await queue.submit(job, tag, priority=priority)
    await queue.submit(job, "g-neg", priority=-2)
    gate.opened.set()
    await queue.join()
    assert order == ["b5", "c5", "f5", "d3", "a1", "e0", "g-neg"]


async def test_a_delayed_job_waits_for_its_delay_on_the_clock(
    queue: JobQueue, clock: VirtualClock
) -> None:
    ran_at: list[float] = []

    async def job() -> None:
        ran_at.append(clock.now())

    handle = await queue.submit(job, delay=10)
    later = await queue.submit(job, delay=datetime.timedelta(minutes=1))
    await clock.advance(9.5)
    assert ran_at == []
    assert handle.status() is JobStatus.QUEUED
    await clock.advance(0.5)
    await handle.result()
    assert ran_at == [10.0]
    await clock.advance(50)
    await later.result()
    assert ran_at == [10.0, 60.0]


async def test_a_due_job_is_not_held_back_by_a_delayed_one(
    queue: JobQueue, clock: VirtualClock
) -> None:
    delayed = await queue.submit(lambda: "late", delay=3600, executor="async")
    now = await queue.submit(lambda: "now", executor="async")
    assert await now.result() == "now"
    assert delayed.status() is JobStatus.QUEUED
    await clock.advance(3600)
    assert await delayed.result() == "late"


async def test_retries_wait_for_the_backoff_then_the_last_error_fails_the_job(
    queue: JobQueue, clock: VirtualClock
) -> None:
    tried_at: list[float] = []

    async def always_fails() -> None:
        tried_at.append(clock.now())
        raise ConnectionError(f"attempt {len(tried_at)}")

    retry = Retry(attempts=4, backoff=Backoff(min=1.0, max=3.0, factor=2.0))
    handle = await queue.submit(always_fails, retry=retry)
    await clock.advance(100)
    with pytest.raises(ConnectionError, match="attempt 4"):
        await handle.result()
    assert tried_at == [0.0, 1.0, 3.0, 6.0]  # delays 1, 2, then 4 capped at 3
    assert handle.info().attempts == 4
    assert handle.status() is JobStatus.FAILED


async def test_a_job_that_succeeds_on_a_retry_succeeds(
    queue: JobQueue, clock: VirtualClock
) -> None:
    calls: list[int] = []

    async def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise OSError("not yet")
        return "ok"

    handle = await queue.submit(flaky, retry=Retry(5, Backoff(min=0.5, max=0.5)))
    await clock.advance(0.4)
    assert handle.status() is JobStatus.RETRYING
    assert isinstance(handle.info().error, OSError)
    await clock.advance(1)
    assert await handle.result() == "ok"
    assert handle.info().attempts == 3
    assert handle.info().error is None


async def test_errors_outside_retry_on_fail_at_once(queue: JobQueue, clock: VirtualClock) -> None:
    async def broken() -> None:
        raise KeyError("no such thing")

    handle = await queue.submit(broken, retry=Retry(5, retry_on=(OSError,)))
    await clock.advance(100)
    with pytest.raises(KeyError):
        await handle.result()
    assert handle.info().attempts == 1


async def test_a_timeout_fails_the_attempt_and_counts_toward_retries(
    queue: JobQueue, clock: VirtualClock
) -> None:
    never = anyio.Event()
    started_at: list[float] = []

    async def hangs() -> None:
        started_at.append(clock.now())
        await never.wait()

    handle = await queue.submit(hangs, timeout=5, retry=Retry(2, Backoff(min=1.0, max=1.0)))
    await clock.advance(20)
    with pytest.raises(JobTimeoutError, match=r"ran longer than its timeout of 5 s") as caught:
        await handle.result()
    assert isinstance(caught.value, TimeoutError)
    assert started_at == [0.0, 6.0]


async def test_a_job_that_ends_before_its_timeout_is_not_touched(
    queue: JobQueue, clock: VirtualClock
) -> None:
    handle = await queue.submit(lambda: 1, timeout=5, executor="async")
    assert await handle.result() == 1
    await clock.advance(10)
    assert handle.status() is JobStatus.SUCCEEDED


async def test_rate_limit_spaces_job_starts(clock: VirtualClock) -> None:
    started: list[float] = []

    async def job() -> None:
        started.append(clock.now())

    async with (
        ActorSystem("jobs", clock=clock) as system,
        JobQueue(system, workers=4, rate_limit=2) as queue,
    ):
        for _ in range(5):
            await queue.submit(job)
        await clock.advance(10)
        await queue.join()
    assert started == [0.0, 0.5, 1.0, 1.5, 2.0]


async def test_workers_bound_how_many_jobs_run_at_once(clock: VirtualClock) -> None:
    running = 0
    peak = 0
    release = anyio.Event()

    async def job() -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await release.wait()
        running -= 1

    async with ActorSystem("jobs", clock=clock) as system:
        async with JobQueue(system, workers=3) as queue:
            for _ in range(10):
                await queue.submit(job)
            await anyio.wait_all_tasks_blocked()
            assert (await queue.counts()).running == 3
            release.set()
        assert peak == 3


async def test_cancelling_a_queued_job_means_it_never_starts(queue: JobQueue) -> None:
    gate = Gate()
    ran: list[str] = []
    await queue.submit(gate)
    await gate.started.wait()
    handle = await queue.submit(lambda: ran.append("x"), executor="async")
    assert await handle.cancel() is True
    assert handle.status() is JobStatus.CANCELLED
    gate.opened.set()
    await queue.join()
    assert ran == []
    with pytest.raises(JobCancelledError, match=r"was cancelled"):
        await handle.result()


async def test_cancelling_a_running_async_job_interrupts_it_at_its_next_checkpoint(
    queue: JobQueue,
) -> None:
    started = anyio.Event()
    cleaned_up: list[bool] = []

    async def long() -> None:
        started.set()
        try:
            await anyio.sleep_forever()
        finally:
            cleaned_up.append(True)

    handle = await queue.submit(long, retry=Retry(3))
    await started.wait()
    assert await handle.cancel() is True
    assert cleaned_up == [True]
    assert handle.status() is JobStatus.CANCELLED
    assert handle.info().attempts == 1  # a cancellation is never retried


async def test_cancelling_a_retrying_job_stops_its_retries(
    queue: JobQueue, clock: VirtualClock
) -> None:
    calls: list[float] = []

    async def fails() -> None:
        calls.append(clock.now())
        raise OSError("down")

    handle = await queue.submit(fails, retry=Retry(5, Backoff(min=10.0, max=10.0)))
    await clock.advance(1)
    assert handle.status() is JobStatus.RETRYING
    assert await handle.cancel() is True
    await clock.advance(100)
    assert calls == [0.0]


async def test_cancelling_a_finished_job_returns_false(queue: JobQueue) -> None:
    handle = await queue.submit(lambda: 1, executor="async")
    await handle.result()
    assert await handle.cancel() is False
    assert handle.status() is JobStatus.SUCCEEDED


async def test_an_attempt_cancelled_before_it_starts_never_calls_the_job(
    clock: VirtualClock,
) -> None:
    # The scheduler registers an attempt when it claims the job, before the worker
    # runs it, so that a cancel in between finds it; the attempt must then not run.
    from actorlib._clock import TimerQueue
    from actorlib.jobs import JobRecord
    from actorlib.jobs._execute import Attempt

    ran: list[str] = []
    record = JobRecord(
        id="j1",
        name="job",
        function=lambda: ran.append("x"),
        args=(),
        kwargs={},
        executor="async",
        priority=0,
        timeout=None,
        retry=Retry(),
        key=None,
        created_at=0.0,
        run_at=0.0,
    )
    attempt = Attempt(record, TimerQueue(clock), lambda progress: None)
    attempt.cancel()
    outcome = await attempt.run()
    assert outcome.cancelled
    assert isinstance(outcome.error, JobCancelledError)
    assert ran == []


async def test_the_rate_limit_spaces_a_late_job_from_the_last_start(clock: VirtualClock) -> None:
    started: list[float] = []

    async def job() -> None:
        started.append(clock.now())

    async with (
        ActorSystem("jobs", clock=clock) as system,
        JobQueue(system, workers=2, rate_limit=2) as queue,
    ):
        await (await queue.submit(job)).result()
        await clock.advance(0.1)
        await queue.submit(job)  # the queue was idle, but the last start was 0.1 s ago
        await clock.advance(1)
        await queue.join()
    assert started == [0.0, 0.5]


class _CountingStore(MemoryStore):
    """A real memory store that counts its claims (the queue's load on a shared store)."""

    def __init__(self, clock: VirtualClock) -> None:
        super().__init__(clock.now)
        self.claims = 0

    async def claim(self, owner: str, limit: int, lease: float) -> list[JobRecord]:
        self.claims += 1
        return await super().claim(owner, limit, lease)


async def test_a_queue_claims_again_only_when_a_job_may_have_become_due(
    clock: VirtualClock,
) -> None:
    # Eight idle workers, jobs one at a time: a claim that came back short means
    # nothing else is due, so a worker that ends its job does not claim for
    # nothing (on a shared store, every such claim is a statement for each job).
    store = _CountingStore(clock)

    async def noop() -> None:
        pass

    async with (
        ActorSystem("claims", clock=clock) as system,
        JobQueue(system, store=store, workers=8) as queue,
    ):
        await (await queue.submit(noop)).result()
        await queue.join()
        before = store.claims
        for _ in range(10):
            await (await queue.submit(noop)).result()
            await queue.join()
        # One claim finds the job (a submit wakes the queue); one more after its
        # outcome is committed (an ended job may release others). Before: four.
        assert store.claims - before <= 2 * 10


class _RenewsOnGate(SqliteStore):
    """A durable store whose first poll (its `renew`) waits for the test."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.renews = 0
        self.first_poll = anyio.Event()
        self.gate = anyio.Event()

    async def renew(self, owner: str, job_ids: list[str], lease: float) -> None:
        self.renews += 1
        self.first_poll.set()
        await self.gate.wait()
        await super().renew(owner, job_ids, lease)


async def test_a_poll_slower_than_the_poll_interval_does_not_pile_polls_up(
    clock: VirtualClock, tmp_path: Path
) -> None:
    # A store under load answers a poll late: the polls due meanwhile are one,
    # not a backlog that would hold back the outcomes waiting to be committed.
    store = _RenewsOnGate(str(tmp_path / "jobs.db"))
    async with (
        ActorSystem("polls", clock=clock) as system,
        JobQueue(system, store=store, workers=1, poll_interval=1.0) as queue,
    ):
        await clock.advance(1.0)
        await store.first_poll.wait()
        for _ in range(50):
            await clock.advance(1.0)
        store.gate.set()
        assert await (await queue.submit(sum, [1, 2])).result() == 3
        await clock.advance(1.0)
        await queue.join()
        # The held poll, then one interval after it ended. Before: fifty-one.
        assert store.renews <= 3
