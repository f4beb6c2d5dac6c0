"""Jobs that run after others (submit's after=): a chain, a fan-out and a fan-in on every
store, and how a failure or a cancellation reaches the jobs waiting for it."""

from __future__ import annotations

from pathlib import Path

import pytest

from actorlib import ActorSystem
from actorlib.jobs import (
    JobDependencyError,
    JobQueue,
    JobStatus,
    Retry,
)
from tests.jobs import tasks
from tests.jobs.stores import KINDS, Kind, make_kind

pytestmark = pytest.mark.anyio


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest, tmp_path: Path) -> Kind:
    return make_kind(str(request.param), request, tmp_path)


async def test_a_chain_a_fan_out_and_a_fan_in_run_in_dependency_order(kind: Kind) -> None:
    async with ActorSystem("jobs") as system, JobQueue(system, store=kind.url) as queue:
        first = await queue.submit(tasks.add, 1, 1)
        second = await queue.submit(tasks.add, 2, 2, after=[first])
        fanned = await queue.submit_many(
            tasks.multiply, [(n, 10) for n in range(4)], after=[second]
        )
        joined = await queue.submit(tasks.add, 100, 1, after=[*fanned, second.id])
        assert await joined.result() == 101
        assert [await h.result() for h in fanned] == [0, 10, 20, 30]
        infos = [h.info() for h in (first, second, *fanned, joined)]
        ends = [info.finished_at for info in infos]
        starts = [info.started_at for info in infos]
        assert ends[0] <= starts[1]  # type: ignore[operator]
        assert all(ends[1] <= start for start in starts[2:6])  # type: ignore[operator]
        assert max(ends[2:6]) <= starts[6]  # type: ignore[type-var,operator]


async def test_a_failure_fails_the_chain_after_it_naming_each_prerequisite(kind: Kind) -> None:
    async with ActorSystem("jobs") as system, JobQueue(system, store=kind.url) as queue:
        bad = await queue.submit(tasks.fail, "root cause", retry=Retry(1))
        child = await queue.submit(tasks.add, 1, 2, after=[bad])
        grandchild = await queue.submit(tasks.add, 3, 4, after=[child])
        with pytest.raises(JobDependencyError, match=rf"prerequisite .*fail\[{bad.id}\] failed"):
            await child.result()
        with pytest.raises(JobDependencyError, match=rf"prerequisite .*\[{child.id}\] failed"):
            await grandchild.result()
        assert grandchild.info().attempts == 0  # it never ran
        await queue.join()
        failed = {info.id for info in await queue.dead_letters()}
        assert failed == {bad.id, child.id, grandchild.id}
        late = await queue.submit(tasks.add, 5, 6, after=[bad])
        assert late.status() is JobStatus.FAILED


async def test_cancelling_a_prerequisite_fails_the_jobs_waiting_for_it(kind: Kind) -> None:
    async with ActorSystem("jobs") as system, JobQueue(system, store=kind.url) as queue:
        later = await queue.submit(tasks.add, 1, 2, delay=3600)
        waiting = await queue.submit(tasks.add, 3, 4, after=[later])
        assert await later.cancel()
        with pytest.raises(JobDependencyError, match=r"prerequisite .* cancelled"):
            await waiting.result()
        await queue.join()


async def test_after_takes_handles_or_ids_and_refuses_anything_else(kind: Kind) -> None:
    async with ActorSystem("jobs") as system, JobQueue(system, store=kind.url) as queue:
        with pytest.raises(TypeError, match=r"after must be a list of job handles or ids"):
            await queue.submit(tasks.add, 1, 2, after="abc")
        with pytest.raises(TypeError, match=r"after must hold job handles or job ids"):
            await queue.submit(tasks.add, 1, 2, after=[42])  # type: ignore[list-item]
        with pytest.raises(ValueError, match=r"names jobs the store does not keep: nope"):
            await queue.submit(tasks.add, 1, 2, after=["nope"])
        assert (await queue.counts()).queued == 0
