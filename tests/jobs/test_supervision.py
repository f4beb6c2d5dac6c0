"""The worker pool is supervised: a crashed worker is restarted and its job is not lost."""

from __future__ import annotations

import anyio
import pytest

from actorlib import Backoff
from actorlib.jobs import JobLostError, JobQueue, JobStatus, Retry
from actorlib.testing import Crash, SimulatedSystem
from tests.jobs import tasks

pytestmark = pytest.mark.anyio


async def test_a_worker_that_crashes_mid_job_is_restarted_and_the_job_retried() -> None:
    crash = Crash("/user/jobs/worker-1", at_message=1)  # its first job
    # fail_after: a lost job would hang the test instead of failing it.
    with anyio.fail_after(10):
        async with (
            SimulatedSystem("jobs", faults=[crash]) as system,
            JobQueue(system, workers=1) as queue,
        ):
            retry = Retry(2, Backoff(min=1.0, max=1.0))
            handle = await queue.submit(tasks.add, 20, 22, retry=retry)
            await system.virtual_clock.advance(1)  # the backoff before the second attempt
            assert await handle.result() == 42
            assert handle.info().attempts == 2
            assert "worker-1 [running] Worker mailbox=0 restarts=1" in system.tree()


async def test_a_crash_on_the_last_attempt_fails_the_job_with_job_lost_error() -> None:
    crash = Crash("/user/jobs/worker-1", at_message=1)
    # fail_after: a lost job would hang the test instead of failing it.
    with anyio.fail_after(10):
        async with (
            SimulatedSystem("jobs", faults=[crash]) as system,
            JobQueue(system, workers=1) as queue,
        ):
            lost = await queue.submit(tasks.add, 1, 1)
            with pytest.raises(JobLostError, match=r"its worker crashed while running it"):
                await lost.result()
            assert lost.status() is JobStatus.FAILED
            after = await queue.submit(tasks.add, 2, 2)
            assert await after.result() == 4  # the restarted worker serves on


async def test_awaiting_a_job_in_a_simulation_lets_virtual_time_reach_its_retry() -> None:
    runs: list[float] = []

    async def flaky() -> str:
        runs.append(system.virtual_clock.now())
        if len(runs) == 1:
            raise ConnectionError("dropped")
        return "sent"

    # fail_after: before the fix, result() waited for a backoff that never came.
    with anyio.fail_after(10):
        async with (
            SimulatedSystem("jobs") as system,
            JobQueue(system, workers=1) as queue,
        ):
            retry = Retry(2, Backoff(min=30.0, max=30.0))
            handle = await queue.submit(flaky, retry=retry)
            assert await handle.result() == "sent"  # no clock.advance: waiting moves time
            assert runs == [0.0, 30.0]
            later = await queue.submit(flaky, delay=60)
            await queue.join()
            assert later.status() is JobStatus.SUCCEEDED
            assert runs == [0.0, 30.0, 90.0]
            delayed = await queue.submit(flaky, delay=60)
            assert await delayed.cancel()
            with pytest.raises(TimeoutError, match=r"did not end within 5 s"):
                await (await queue.submit(flaky, delay=60)).result(timeout=5)
            assert system.virtual_clock.now() == 95.0
