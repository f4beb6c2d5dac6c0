"""Progress reports (async and thread jobs) and the job events on the system's event stream."""

from __future__ import annotations

import anyio
import pytest

from actorlib import Actor, ActorSystem, Backoff
from actorlib.jobs import (
    JobEvent,
    JobFailed,
    JobProgress,
    JobQueue,
    JobQueued,
    JobRetrying,
    JobStarted,
    JobSucceeded,
    Progress,
    Retry,
    report_progress,
)
from actorlib.testing import VirtualClock
from tests.helpers import Probe
from tests.jobs import tasks

pytestmark = pytest.mark.anyio


class Recorder(Actor):
    def __init__(self, probe: Probe) -> None:
        self.probe = probe

    async def receive(self, message: object) -> None:
        self.probe.put(message)


async def test_progress_reports_from_a_thread_job_reach_the_handle_in_order() -> None:
    async with ActorSystem("jobs") as system, JobQueue(system) as queue:
        handle = await queue.submit(tasks.stepped, 4)
        updates = [update async for update in handle.progress()]
        assert await handle.result() == 4
    assert updates == [Progress(i, 4, f"step {i}") for i in range(1, 5)]
    assert handle.info().progress == Progress(4, 4, "step 4")
    assert updates[1].fraction == 0.5


async def test_progress_iteration_started_late_ends_when_the_job_ends() -> None:
    release = anyio.Event()

    async def job() -> None:
        report_progress(1, 2)
        await release.wait()
        report_progress(2, 2, note="last")

    async with ActorSystem("jobs") as system, JobQueue(system) as queue:
        handle = await queue.submit(job)
        await anyio.wait_all_tasks_blocked()
        seen: list[Progress] = []
        async with anyio.create_task_group() as tg:

            async def follow() -> None:
                seen.extend([p async for p in handle.progress()])

            tg.start_soon(follow)
            await anyio.wait_all_tasks_blocked()
            release.set()
        assert seen == [Progress(2, 2, "last")]
        assert handle.done()


async def test_report_progress_outside_a_job_is_a_clear_error() -> None:
    with pytest.raises(RuntimeError, match=r"must be called from inside a running job"):
        report_progress(1, 2)


@pytest.mark.parametrize(
    ("args", "error", "match"),
    [
        (("1", 2), TypeError, r"done must be a number, got '1'"),
        ((-1, 2), ValueError, r"done must be >= 0, got -1"),
        ((1, float("nan")), ValueError, r"total must be >= 0"),
        ((1, 2, 3), TypeError, r"note must be a str or None, got 3"),
    ],
)
async def test_report_progress_rejects_bad_values_inside_the_job(
    args: tuple[object, ...], error: type[Exception], match: str
) -> None:
    async def job() -> None:
        report_progress(*args)  # type: ignore[arg-type]

    async with ActorSystem("jobs") as system, JobQueue(system) as queue:
        handle = await queue.submit(job)
        with pytest.raises(error, match=match):
            await handle.result()


async def test_events_tell_the_life_of_each_job_in_order() -> None:
    clock = VirtualClock()
    probe = Probe()
    calls: list[int] = []

    async def flaky() -> str:
        calls.append(1)
        report_progress(len(calls), 2)
        if len(calls) == 1:
            raise OSError("once")
        return "ok"

    async with ActorSystem("jobs", clock=clock) as system:
        recorder = await system.spawn(Recorder, probe)
        system.events.subscribe(recorder, JobEvent)
        async with JobQueue(system, name="q") as queue:
            handle = await queue.submit(flaky, retry=Retry(2, Backoff(min=1.0, max=1.0)))
            doomed = await queue.submit(tasks.fail, "nope")
            await clock.advance(2)
            await queue.join()
        await probe.wait_for(lambda items: len(items) >= 10)

    def life(job_id: str) -> list[str]:
        return [type(e).__name__ for e in probe.items if e.job_id == job_id]  # type: ignore[attr-defined]

    assert life(handle.id) == [
        "JobQueued",
        "JobStarted",
        "JobProgress",
        "JobRetrying",
        "JobStarted",
        "JobProgress",
        "JobSucceeded",
    ]
    assert life(doomed.id) == ["JobQueued", "JobStarted", "JobFailed"]
    retrying = next(e for e in probe.items if isinstance(e, JobRetrying))
    assert (retrying.queue, retrying.attempt, retrying.delay) == ("q", 1, 1.0)
    assert isinstance(retrying.error, OSError)
    started = [e for e in probe.items if isinstance(e, JobStarted) and e.job_id == handle.id]
    assert [e.attempt for e in started] == [1, 2]
    failed = next(e for e in probe.items if isinstance(e, JobFailed))
    assert isinstance(failed.error, ValueError)
    assert isinstance(probe.items[0], JobQueued)
    assert any(isinstance(e, JobProgress) and e.progress == Progress(2, 2) for e in probe.items)
    assert any(isinstance(e, JobSucceeded) for e in probe.items)


async def test_an_idempotency_key_returns_the_existing_job_without_queuing_another() -> None:
    ran: list[int] = []

    async def once() -> int:
        ran.append(1)
        return len(ran)

    async with ActorSystem("jobs") as system, JobQueue(system) as queue:
        first = await queue.submit(once, key="invoice-42")
        second = await queue.submit(once, key="invoice-42")
        assert second.id == first.id
        assert await second.result() == 1
        third = await queue.submit(once, key="invoice-42")  # finished, still kept
        assert third.id == first.id
        assert await third.result() == 1
        other = await queue.submit(once, key="invoice-43")
        assert await other.result() == 2
    assert ran == [1, 1]


async def test_kept_results_expire_after_keep_results_and_free_the_key() -> None:
    clock = VirtualClock()

    async def job() -> str:
        return "v"

    async with (
        ActorSystem("jobs", clock=clock) as system,
        JobQueue(system, keep_results=100) as queue,
    ):
        first = await queue.submit(job, key="k")
        await first.result()
        await clock.advance(200)
        await queue.submit(job, delay=1)  # makes the scheduler look (and purge)
        await clock.advance(2)
        await queue.join()
        again = await queue.submit(job, key="k")
        assert again.id != first.id
        assert await queue.get(first.id) is None


async def test_an_idle_memory_queue_forgets_results_and_keys_exactly_at_keep_results() -> None:
    clock = VirtualClock()

    async def job() -> str:
        return "v"

    async with (
        ActorSystem("jobs", clock=clock) as system,
        JobQueue(system, keep_results=60) as queue,
    ):
        first = await queue.submit(job, key="k")
        await first.result()
        cancelled = await queue.submit(job, key="c", delay=10)
        assert await cancelled.cancel()
        await clock.advance(59.5)  # nothing runs meanwhile: no job wakes the scheduler
        assert await queue.get(first.id) is not None
        assert (await queue.submit(job, key="k")).id == first.id
        await clock.advance(0.5)
        assert await queue.get(first.id) is None
        assert await queue.get(cancelled.id) is None
        again = await queue.submit(job, key="k")
        assert again.id != first.id
        assert await again.result() == "v"
