"""Random mixes of priorities, delays, failures and cancellations keep the job queue's invariants.

- No job ever runs twice at the same time.
- Every job ends in exactly one final state (its done callback runs once), and the
  right one: cancelled if the test cancelled it before it ended, else succeeded when
  it had attempts enough to outlive its failures, else failed.
- With one worker, each job that starts is the first of the jobs ready at that moment
  (higher priority first, then submit order).

Time is virtual: retries wait exactly 1 s (no jitter), delays are whole seconds.
"""

from __future__ import annotations

import functools
from typing import Any

import anyio
import anyio.lowlevel
import pytest
from hypothesis import given

from actorlib import ActorSystem, Backoff
from actorlib.jobs import JobHandle, JobQueue, JobStatus, Retry
from actorlib.testing import VirtualClock
from tests.properties.strategies import BACKENDS, JobMix, job_mixes


def note_ending(endings: list[JobStatus], handle: JobHandle[Any]) -> None:
    endings.append(handle.status())


class Model:
    """What the test knows of each job: when it is ready, and whether it runs or ended."""

    def __init__(self, mix: JobMix, clock: VirtualClock) -> None:
        self.mix = mix
        self.clock = clock
        self.ready_at = [float(spec.delay) for spec in mix.jobs]
        self.runs = [0] * len(mix.jobs)
        self.running: set[int] = set()
        self.ended: set[int] = set()
        self.violations: list[str] = []

    def rank(self, index: int) -> tuple[int, int]:
        return (-self.mix.jobs[index].priority, index)

    def started(self, index: int, handles: list[JobHandle[Any]]) -> None:
        if index in self.running:
            self.violations.append(f"job {index} started while already running")
        self.running.add(index)
        self.runs[index] += 1
        if self.mix.workers == 1:
            now = self.clock.now()
            ready = [
                other
                for other in range(len(self.mix.jobs))
                if other != index
                and other not in self.running
                and not handles[other].done()
                and self.ready_at[other] <= now
            ]
            better = [o for o in ready if self.rank(o) < self.rank(index)]
            if better:
                self.violations.append(f"job {index} started at {now} before ready {better}")

    def finished(self, index: int, *, failed: bool) -> None:
        self.running.discard(index)
        if failed:
            self.ready_at[index] = self.clock.now() + 1.0


async def run_mix(mix: JobMix) -> None:
    clock = VirtualClock()
    model = Model(mix, clock)
    handles: list[JobHandle[Any]] = []
    endings: dict[int, list[JobStatus]] = {i: [] for i in range(len(mix.jobs))}
    cancelled_in_time: set[int] = set()
    gate = anyio.Event()

    async def hold() -> None:
        await gate.wait()

    async def job(index: int) -> int:
        model.started(index, handles)
        await anyio.lowlevel.checkpoint()
        failing = model.runs[index] <= mix.jobs[index].failures
        model.finished(index, failed=failing)
        if failing:
            raise OSError(f"job {index} attempt {model.runs[index]}")
        return index

    async with (
        ActorSystem("mix", clock=clock) as system,
        JobQueue(system, workers=mix.workers) as queue,
    ):
        for _ in range(mix.workers):
            await queue.submit(hold)  # every worker waits until all jobs are in
        for index, spec in enumerate(mix.jobs):
            retry = Retry(spec.attempts, Backoff(min=1.0, max=1.0))
            handle = await queue.submit(
                job, index, priority=spec.priority, delay=spec.delay, retry=retry
            )
            handle.add_done_callback(functools.partial(note_ending, endings[index]))
            handles.append(handle)
        gate.set()
        for second in range(6):
            for index, spec in enumerate(mix.jobs):
                if spec.cancel_at == second and not handles[index].done():
                    cancelled_in_time.add(index)
                    assert await handles[index].cancel()
            await clock.advance(1)
        await clock.advance(60)
        await queue.join()

    assert model.violations == []
    for index, spec in enumerate(mix.jobs):
        assert len(endings[index]) == 1, (index, endings[index])
        if index in cancelled_in_time:
            expected = JobStatus.CANCELLED
        elif spec.failures < spec.attempts:
            expected = JobStatus.SUCCEEDED
        else:
            expected = JobStatus.FAILED
        assert endings[index] == [expected], (index, spec, endings[index])
        assert handles[index].status() is expected
        assert model.runs[index] <= spec.attempts


@pytest.mark.parametrize("backend", BACKENDS)
@given(mix=job_mixes)
def test_random_job_mixes_keep_the_queue_invariants(backend: str, mix: JobMix) -> None:
    anyio.run(run_mix, mix, backend=backend)
