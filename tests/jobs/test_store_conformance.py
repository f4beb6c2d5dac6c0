"""Every job store keeps the same promises: memory, SQLite and PostgreSQL, through the
seam directly and through a JobQueue; the durable ones also across a restart."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import anyio
import attrs
import pytest

from actorlib import ActorSystem, Backoff
from actorlib.jobs import (
    JobDependencyError,
    JobQueue,
    JobRecord,
    JobSerializationError,
    JobStatus,
    JobStore,
    Retry,
    open_queues,
)
from tests.jobs import tasks
from tests.jobs.stores import DURABLE_KINDS, KINDS, FakeClock, Kind, make_kind, record

pytestmark = pytest.mark.anyio


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest, tmp_path: Path) -> Kind:
    return make_kind(str(request.param), request, tmp_path)


@pytest.fixture(params=DURABLE_KINDS)
def durable(request: pytest.FixtureRequest, tmp_path: Path) -> Kind:
    return make_kind(str(request.param), request, tmp_path)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@contextlib.asynccontextmanager
async def opened(kind: Kind, clock: FakeClock) -> AsyncIterator[JobStore]:
    """A store of *kind*, open for owner-a, closed at the end."""
    store = kind.store(clock)
    await store.open("owner-a")
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture
async def store(kind: Kind, clock: FakeClock) -> AsyncIterator[JobStore]:
    async with opened(kind, clock) as store:
        yield store


@pytest.fixture
async def durable_store(durable: Kind, clock: FakeClock) -> AsyncIterator[JobStore]:
    """A store with leases: another process may take the jobs whose lease lapsed."""
    async with opened(durable, clock) as store:
        yield store


def ended(
    job: JobRecord, status: JobStatus, now: Callable[[], float], **changes: object
) -> JobRecord:
    """The job's state after an attempt, as the scheduler commits it (on a copy)."""
    final = {"finished_at": now()} if status.final else {}
    return attrs.evolve(job, status=status, owner=None, lease_until=None, **final, **changes)  # type: ignore[arg-type]


# ---------------------------------------------------------------- the seam


async def test_an_added_job_is_kept_and_found_by_id(store: JobStore, clock: FakeClock) -> None:
    job = record(store.now)
    kept, created = await store.add(job)
    assert created
    assert kept.id == job.id
    found = await store.get(job.id)
    assert found is not None
    assert (found.id, found.status, found.name, found.attempts) == (
        job.id,
        JobStatus.QUEUED,
        "tests.jobs.tasks.add",
        0,
    )
    assert await store.get("no-such-job") is None
    assert {r.id for r in await store.get_many([job.id, "no-such-job"])} == {job.id}


async def test_a_taken_key_answers_the_kept_job_and_adds_nothing(
    store: JobStore, clock: FakeClock
) -> None:
    first, created = await store.add(record(store.now, key="k"))
    again, created_again = await store.add(record(store.now, key="k"))
    assert created
    assert not created_again
    assert again.id == first.id
    batch = await store.add_many([record(store.now, key="k"), record(store.now, key="j")])
    assert [(r.id == first.id, created) for r, created in batch] == [(True, False), (False, True)]
    assert (await store.counts())[JobStatus.QUEUED] == 2


async def test_a_key_repeated_in_one_batch_adds_one_job(store: JobStore, clock: FakeClock) -> None:
    (one, created), (two, created_two) = await store.add_many(
        [record(store.now, key="twice"), record(store.now, key="twice")]
    )
    assert (created, created_two) == (True, False)
    assert two.id == one.id


async def test_claims_take_the_highest_priority_first_then_submit_order(
    store: JobStore, clock: FakeClock
) -> None:
    jobs = [record(store.now, priority=p) for p in (0, 5, 0, 5, 9)]
    for job in jobs:
        await store.add(job)
    claimed = await store.claim("owner-a", 3, lease=30)
    assert [r.id for r in claimed] == [jobs[4].id, jobs[1].id, jobs[3].id]
    rest = await store.claim("owner-a", 10, lease=30)
    assert [r.id for r in rest] == [jobs[0].id, jobs[2].id]
    assert await store.claim("owner-a", 10, lease=30) == []


async def test_a_claim_marks_jobs_running_for_the_owner_and_counts_the_attempt(
    store: JobStore, clock: FakeClock
) -> None:
    job = record(store.now)
    await store.add(job)
    (claimed,) = await store.claim("owner-a", 1, lease=30)
    assert (claimed.status, claimed.attempts, claimed.owner) == (JobStatus.RUNNING, 1, "owner-a")
    assert claimed.started_at == store.now()
    assert await claimed.function(*claimed.args, **claimed.kwargs) == 3
    assert await store.running() == 1
    assert (await store.counts())[JobStatus.RUNNING] == 1


async def test_only_due_jobs_are_claimed_and_next_due_says_when(
    store: JobStore, clock: FakeClock
) -> None:
    assert await store.next_due() is None
    later = record(store.now, delay=10, priority=9)
    await store.add(later)
    assert await store.claim("owner-a", 5, lease=30) == []
    assert await store.next_due() == pytest.approx(later.run_at)
    now = record(store.now)
    await store.add(now)
    assert [r.id for r in await store.claim("owner-a", 5, lease=30)] == [now.id]
    clock.advance(10)
    assert [r.id for r in await store.claim("owner-a", 5, lease=30)] == [later.id]
    assert await store.next_due() is None


async def test_a_retrying_job_waits_for_its_run_time_then_is_claimed_again(
    store: JobStore, clock: FakeClock
) -> None:
    await store.add(record(store.now, attempts=2))
    (first,) = await store.claim("owner-a", 1, lease=30)
    error = ValueError("try again")
    await store.save(
        ended(first, JobStatus.RETRYING, store.now, run_at=store.now() + 5, error=error)
    )
    assert await store.waiting() == [first.id]
    assert await store.claim("owner-a", 1, lease=30) == []
    clock.advance(5)
    (second,) = await store.claim("owner-a", 1, lease=30)
    assert (second.id, second.attempts) == (first.id, 2)


async def test_a_final_state_is_never_overwritten(store: JobStore, clock: FakeClock) -> None:
    await store.add(record(store.now))
    (job,) = await store.claim("owner-a", 1, lease=30)
    await store.save(ended(job, JobStatus.SUCCEEDED, store.now, result=3))
    await store.save(ended(job, JobStatus.FAILED, store.now, error=ValueError("late")))
    found = await store.get(job.id)
    assert found is not None
    assert (found.status, found.result, found.error) == (JobStatus.SUCCEEDED, 3, None)


async def test_save_many_commits_every_outcome(store: JobStore, clock: FakeClock) -> None:
    await store.add_many([record(store.now) for _ in range(3)])
    a, b, c = await store.claim("owner-a", 3, lease=30)
    await store.save_many(
        [
            ended(a, JobStatus.SUCCEEDED, store.now, result=1),
            ended(b, JobStatus.FAILED, store.now, error=ValueError("b")),
            ended(c, JobStatus.CANCELLED, store.now),
        ]
    )
    counts = await store.counts()
    assert (counts[JobStatus.SUCCEEDED], counts[JobStatus.FAILED]) == (1, 1)
    assert (counts[JobStatus.CANCELLED], counts[JobStatus.RUNNING]) == (1, 0)
    assert await store.running() == 0


async def test_cancel_waiting_cancels_only_a_waiting_job(store: JobStore, clock: FakeClock) -> None:
    waiting, running = record(store.now, priority=0), record(store.now, priority=1)
    await store.add_many([waiting, running])
    await store.claim("owner-a", 1, lease=30)
    cancelled = await store.cancel_waiting(waiting.id)
    assert cancelled is not None
    assert (cancelled.id, cancelled.status) == (waiting.id, JobStatus.CANCELLED)
    assert cancelled.finished_at == store.now()
    assert await store.cancel_waiting(running.id) is None
    assert await store.cancel_waiting(waiting.id) is None
    assert await store.cancel_waiting("no-such-job") is None
    assert await store.claim("owner-a", 5, lease=30) == []


async def test_failed_lists_the_dead_letters_most_recent_first(
    store: JobStore, clock: FakeClock
) -> None:
    await store.add_many([record(store.now) for _ in range(3)])
    claimed = await store.claim("owner-a", 3, lease=30)
    for n, job in enumerate(claimed):
        clock.advance(1)
        await store.save(ended(job, JobStatus.FAILED, store.now, error=ValueError(f"bad {n}")))
    dead = await store.failed(2)
    assert [r.id for r in dead] == [claimed[2].id, claimed[1].id]
    assert [str(r.error) for r in dead] == ["bad 2", "bad 1"]


async def test_running_jobs_lists_the_running_jobs_earliest_started_first(
    store: JobStore, clock: FakeClock
) -> None:
    await store.add(record(store.now))
    (first,) = await store.claim("owner-a", 1, lease=30)
    clock.advance(1)
    await store.add_many([record(store.now), record(store.now)])
    (second,) = await store.claim("owner-a", 1, lease=30)
    running = await store.running_jobs(10)
    assert [r.id for r in running] == [first.id, second.id]
    assert all(r.status is JobStatus.RUNNING for r in running)
    assert [r.id for r in await store.running_jobs(1)] == [first.id]


async def test_retry_failed_queues_a_failed_job_again_as_new_and_nothing_else(
    store: JobStore, clock: FakeClock
) -> None:
    failing, waiting = record(store.now, priority=1), record(store.now)
    await store.add_many([failing, waiting])
    (job,) = await store.claim("owner-a", 1, lease=30)
    clock.advance(1)
    await store.save(ended(job, JobStatus.FAILED, store.now, error=ValueError("bad")))
    assert await store.retry_failed(waiting.id) is None  # queued, not failed
    assert await store.retry_failed("no-such-job") is None
    clock.advance(1)
    again = await store.retry_failed(failing.id)
    assert again is not None
    assert (again.status, again.attempts, again.error) == (JobStatus.QUEUED, 0, None)
    assert (again.finished_at, again.run_at) == (None, store.now())
    assert await store.retry_failed(failing.id) is None  # queued now
    assert await store.failed(5) == []
    claimed = await store.claim("owner-a", 1, lease=30)
    assert [(r.id, r.attempts) for r in claimed] == [(failing.id, 1)]


async def test_release_queues_the_owners_running_jobs_again_and_forgets_the_attempt(
    store: JobStore, clock: FakeClock
) -> None:
    await store.add_many([record(store.now), record(store.now)])
    await store.claim("owner-a", 2, lease=30)
    assert await store.release("someone-else") == 0
    assert await store.release("owner-a") == 2
    assert await store.running() == 0
    again = await store.claim("owner-a", 2, lease=30)
    assert [r.attempts for r in again] == [1, 1]


async def test_purge_deletes_final_jobs_past_the_horizon_and_frees_their_keys(
    store: JobStore, clock: FakeClock
) -> None:
    await store.add_many(
        [record(store.now, key="old"), record(store.now), record(store.now, delay=1000)]
    )
    old, young = await store.claim("owner-a", 2, lease=30)
    await store.save(ended(old, JobStatus.SUCCEEDED, store.now))
    clock.advance(100)
    await store.save(ended(young, JobStatus.SUCCEEDED, store.now))
    assert await store.purge(older_than=50) == 1
    assert await store.get(old.id) is None
    assert await store.get(young.id) is not None
    _, created = await store.add(record(store.now, key="old"))
    assert created
    counts = await store.counts()
    assert (counts[JobStatus.QUEUED], counts[JobStatus.SUCCEEDED]) == (2, 1)


async def test_a_running_job_whose_lease_expired_is_claimable_again(
    durable_store: JobStore, clock: FakeClock
) -> None:
    store = durable_store  # the memory store has no leases: no other process takes its jobs
    await store.add_many([record(store.now), record(store.now)])
    renewed, lapsed = await store.claim("owner-a", 2, lease=10)
    clock.advance(8)
    await store.renew("owner-a", [renewed.id], lease=10)
    clock.advance(5)
    assert await store.reclaim_expired() == 1
    (again,) = await store.claim("owner-b", 5, lease=10)
    assert (again.id, again.owner, again.attempts) == (lapsed.id, "owner-b", 1)


# ---------------------------------------------------------------- two store objects


async def test_concurrent_claims_of_two_stores_never_take_a_job_twice(
    durable: Kind,
) -> None:
    one, two = durable.store(), durable.store()
    await one.open("one")
    await two.open("two")
    try:
        await one.add_many([record(one.now) for _ in range(60)])
        taken: dict[str, list[str]] = {"one": [], "two": []}

        async def drain(store: JobStore, owner: str) -> None:
            while batch := await store.claim(owner, 3, lease=30):
                taken[owner] += [r.id for r in batch]

        async with anyio.create_task_group() as tg:
            tg.start_soon(drain, one, "one")
            tg.start_soon(drain, two, "two")
        assert len(taken["one"]) + len(taken["two"]) == 60
        assert not set(taken["one"]) & set(taken["two"])
    finally:
        await one.close()
        await two.close()


async def test_concurrent_adds_of_one_key_keep_one_job(durable: Kind) -> None:
    stores = [durable.store() for _ in range(3)]
    for n, store in enumerate(stores):
        await store.open(f"owner-{n}")
    try:
        kept: list[str] = []

        async def add(store: JobStore, n: int) -> None:
            for k in range(10):
                job, _ = await store.add(record(store.now, key=f"key-{k}"))
                kept.append(f"{k}:{job.id}")

        async with anyio.create_task_group() as tg:
            for n, store in enumerate(stores):
                tg.start_soon(add, store, n)
        assert len(set(kept)) == 10  # each key answered the same job to every adder
        assert (await stores[0].counts())[JobStatus.QUEUED] == 10
    finally:
        for store in stores:
            await store.close()


async def test_a_job_is_committed_before_submit_returns(durable: Kind) -> None:
    async with ActorSystem("jobs") as system, JobQueue(system, store=durable.url) as queue:
        handle = await queue.submit(tasks.add, 1, 2, delay=3600)
        other = durable.store()  # as another process would
        await other.open("other")
        try:
            found = await other.get(handle.id)
        finally:
            await other.close()
        assert found is not None
        assert (found.status, found.name) == (JobStatus.QUEUED, "tests.jobs.tasks.add")


# ---------------------------------------------------------------- dependencies (after=)


def after(clock: Callable[[], float], *prerequisites: JobRecord) -> JobRecord:
    """A new job that waits for *prerequisites* (submit's after=)."""
    return attrs.evolve(record(clock), after=tuple(p.id for p in prerequisites))


async def succeed(store: JobStore, job: JobRecord) -> list[JobRecord]:
    return await store.save_many([ended(job, JobStatus.SUCCEEDED, store.now, result=3)])


async def test_a_dependent_job_is_claimed_only_once_every_prerequisite_succeeded(
    store: JobStore, clock: FakeClock
) -> None:
    first, second = record(store.now), record(store.now)
    await store.add_many([first, second])
    dependent = after(store.now, first, second)
    kept, _ = await store.add(dependent)
    assert (kept.status, kept.blockers) == (JobStatus.QUEUED, 2)
    claimed = await store.claim("owner-a", 10, lease=30)
    assert {r.id for r in claimed} == {first.id, second.id}
    assert await store.next_due() is None  # a blocked job is not due: no busy wake-ups
    assert await succeed(store, claimed[0]) == []
    assert await store.claim("owner-a", 10, lease=30) == []
    assert await succeed(store, claimed[1]) == []
    (released,) = await store.claim("owner-a", 10, lease=30)
    assert released.id == dependent.id


async def test_a_job_added_after_a_succeeded_job_runs_at_once_and_after_a_failed_one_fails(
    store: JobStore, clock: FakeClock
) -> None:
    done, bad = record(store.now), record(store.now)
    await store.add_many([done, bad])
    running = {r.id: r for r in await store.claim("owner-a", 2, lease=30)}
    await succeed(store, running[done.id])
    await store.save(ended(running[bad.id], JobStatus.FAILED, store.now, error=ValueError("x")))
    ready = after(store.now, done)
    doomed = after(store.now, done, bad)
    await store.add_many([ready, doomed])
    (claimed,) = await store.claim("owner-a", 10, lease=30)
    assert claimed.id == ready.id
    failed = await store.get(doomed.id)
    assert failed is not None
    assert failed.status is JobStatus.FAILED
    assert isinstance(failed.error, JobDependencyError)
    assert failed.error.prerequisite == f"tests.jobs.tasks.add[{bad.id}]"
    assert failed.error.status == "failed"


async def test_a_failed_prerequisite_fails_its_dependents_transitively_in_the_same_commit(
    store: JobStore, clock: FakeClock
) -> None:
    root = record(store.now)
    await store.add(root)
    child = after(store.now, root)
    await store.add(child)
    grandchild = after(store.now, child)
    await store.add(grandchild)
    (claimed,) = await store.claim("owner-a", 10, lease=30)
    failed = await store.save_many(
        [ended(claimed, JobStatus.FAILED, store.now, error=ValueError("root broke"))]
    )
    assert {r.id for r in failed} == {child.id, grandchild.id}
    for job, cause in ((child, root), (grandchild, child)):
        kept = await store.get(job.id)
        assert kept is not None
        assert kept.status is JobStatus.FAILED
        assert kept.finished_at is not None
        with pytest.raises(JobDependencyError, match=rf"its prerequisite .*\[{cause.id}\] failed"):
            raise kept.error  # type: ignore[misc]
    assert await store.claim("owner-a", 10, lease=30) == []
    assert (await store.counts())[JobStatus.FAILED] == 3


async def test_cancelling_a_waiting_prerequisite_fails_its_dependents(
    store: JobStore, clock: FakeClock
) -> None:
    root = record(store.now, delay=60)
    await store.add(root)
    child = after(store.now, root)
    await store.add(child)
    assert await store.cancel_waiting(root.id) is not None
    kept = await store.get(child.id)
    assert kept is not None
    assert kept.status is JobStatus.FAILED
    assert isinstance(kept.error, JobDependencyError)
    assert kept.error.status == "cancelled"
    clock.advance(60)
    assert await store.claim("owner-a", 10, lease=30) == []


async def test_a_blocked_job_can_be_cancelled_and_its_prerequisite_still_runs(
    store: JobStore, clock: FakeClock
) -> None:
    root = record(store.now)
    await store.add(root)
    child = after(store.now, root)
    await store.add(child)
    assert await store.cancel_waiting(child.id) is not None
    (claimed,) = await store.claim("owner-a", 10, lease=30)
    assert claimed.id == root.id
    assert await succeed(store, claimed) == []
    assert await store.claim("owner-a", 10, lease=30) == []
    kept = await store.get(child.id)
    assert kept is not None
    assert kept.status is JobStatus.CANCELLED


async def test_after_a_job_the_store_does_not_keep_is_refused_and_adds_nothing(
    store: JobStore, clock: FakeClock
) -> None:
    fine = record(store.now)
    orphan = attrs.evolve(record(store.now), after=("no-such-job",))
    with pytest.raises(ValueError, match=r"after= of job .* names jobs the store does not keep"):
        await store.add_many([fine, orphan])
    assert await store.get(fine.id) is None
    assert await store.waiting() == []


# ---------------------------------------------------------------- through a queue


async def test_a_queue_runs_jobs_by_priority_with_results_and_dead_letters(kind: Kind) -> None:
    gate = tasks.GATES[kind.url] = tasks.Gate()
    async with (
        ActorSystem("jobs") as system,
        JobQueue(system, store=kind.url, workers=1) as queue,
    ):
        blocker = await queue.submit(tasks.gated, kind.url, -1)
        await gate.started.wait()  # the one worker is busy: the rest wait in the store
        handles = [await queue.submit(tasks.gated, kind.url, n, priority=n % 3) for n in range(6)]
        gate.opened.set()
        assert [await h.result() for h in handles] == [n * 10 for n in range(6)]
        assert await blocker.result() == -10
        assert gate.log == [-1, 2, 5, 1, 4, 0, 3]
        bad = await queue.submit(tasks.fail, "broken", retry=Retry(1))
        with pytest.raises(ValueError, match="broken"):
            await bad.result()
        (dead,) = await queue.dead_letters()
        assert dead.id == bad.id
        statistics = await queue.counts()
        assert (statistics.succeeded, statistics.failed, statistics.running) == (7, 1, 0)


async def test_a_queue_retries_after_the_backoff_and_runs_delayed_jobs_late(kind: Kind) -> None:
    attempts: list[int] = []

    async def flaky() -> str:
        attempts.append(1)
        if len(attempts) < 3:
            raise OSError("flaky")
        return "ok"

    fast = Backoff(min=0.01, max=0.01, factor=1.0, jitter=0.0)
    async with ActorSystem("jobs") as system, JobQueue(system, store=kind.url) as queue:
        handle = await queue.submit(flaky, retry=Retry(3, backoff=fast))
        delayed = await queue.submit(tasks.add, 1, 1, delay=0.05)
        assert await handle.result() == "ok"
        assert handle.info().attempts == 3
        assert await delayed.result() == 2
        info = delayed.info()
        assert info.started_at is not None
        assert info.started_at - info.created_at >= 0.05 - 1e-6


async def test_a_queue_keeps_a_keyed_result_and_honours_the_rate_limit(kind: Kind) -> None:
    async with (
        ActorSystem("jobs") as system,
        JobQueue(system, store=kind.url, rate_limit=50.0) as queue,
    ):
        first = await queue.submit(tasks.multiply, 6, 7, key="answer")
        assert await first.result() == 42
        again = await queue.submit(tasks.multiply, 0, 0, key="answer")
        assert again.id == first.id
        assert await again.result() == 42
        handles = [await queue.submit(tasks.add, n, 0) for n in range(5)]
        assert [await h.result() for h in handles] == list(range(5))
        starts = sorted(h.info().started_at or 0.0 for h in handles)
        # 50 starts a second: the five took at least four gaps of 20 ms.
        assert starts[-1] - starts[0] >= 4 * 0.02 * 0.9


async def test_a_queue_cancels_a_waiting_job(kind: Kind) -> None:
    async with ActorSystem("jobs") as system, JobQueue(system, store=kind.url) as queue:
        handle = await queue.submit(tasks.add, 1, 1, delay=3600)
        assert await handle.cancel()
        assert handle.status() is JobStatus.CANCELLED
        assert (await queue.counts()).cancelled == 1


async def test_a_queue_retries_a_dead_letter_job_and_lists_the_running_ones(
    kind: Kind, tmp_path: Path
) -> None:
    marker = tmp_path / "fixed"
    gate = tasks.GATES[kind.url] = tasks.Gate()
    async with ActorSystem("jobs") as system, JobQueue(system, store=kind.url) as queue:
        assert open_queues(system) == (queue,)
        bad = await queue.submit(tasks.fail_until_exists, str(marker))
        with pytest.raises(FileNotFoundError, match="missing"):
            await bad.result()
        assert not await queue.retry("no-such-job")
        marker.touch()
        assert await queue.retry(bad.id)
        assert not await queue.retry(bad.id)  # queued again, no longer a dead letter
        again = await queue.get(bad.id)
        assert again is not None
        assert await again.result() == "found"
        blocker = await queue.submit(tasks.gated, kind.url, 1)
        await gate.started.wait()
        assert [info.id for info in await queue.running()] == [blocker.id]
        gate.opened.set()
        assert await blocker.result() == 10
    assert open_queues(system) == ()


# ---------------------------------------------------------------- durable: across a restart


async def test_waiting_jobs_survive_a_close_and_run_when_the_store_reopens(durable: Kind) -> None:
    async with ActorSystem("first") as system, JobQueue(system, store=durable.url) as queue:
        ids = [(await queue.submit(tasks.add, i, 1, delay=0.2)).id for i in range(5)]
        assert (await queue.counts()).queued == 5
    async with ActorSystem("second") as system, JobQueue(system, store=durable.url) as queue:
        handles = [await queue.get(job_id) for job_id in ids]
        results = [await h.result() for h in handles if h is not None]
        assert results == [1, 2, 3, 4, 5]


async def test_a_kept_result_answers_its_key_after_a_restart_without_running_again(
    durable: Kind,
) -> None:
    async with ActorSystem("first") as system, JobQueue(system, store=durable.url) as queue:
        first = await queue.submit(tasks.multiply, 6, 7, key="answer")
        assert await first.result() == 42
    async with ActorSystem("second") as system, JobQueue(system, store=durable.url) as queue:
        again = await queue.submit(tasks.multiply, 0, 0, key="answer")
        assert again.id == first.id
        assert again.status() is JobStatus.SUCCEEDED
        assert await again.result() == 42
        assert (await queue.counts()).succeeded == 1


async def test_jobs_left_running_by_a_dead_process_run_again_at_once_when_alone(
    durable: Kind,
) -> None:
    dead = durable.store()
    await dead.open("dead")
    job = record(dead.now)
    await dead.add(job)
    await dead.claim("dead", 1, lease=3600)
    await dead.close()  # as a killed process leaves it: running, owned, leased for an hour
    async with ActorSystem("second") as system, JobQueue(system, store=durable.url) as queue:
        again = await queue.get(job.id)
        assert again is not None
        assert await again.result() == 3
        assert again.info().attempts == 1  # the interrupted attempt does not count


async def test_with_another_process_on_the_store_running_jobs_wait_for_their_lease(
    durable: Kind,
) -> None:
    other = durable.store()  # open all along: it holds the store's open-lock
    await other.open("other")
    try:
        live, expired = record(other.now), record(other.now)
        await other.add_many([live, expired])
        await other.claim("other", 1, lease=3600)  # live: claimed first (same priority, FIFO)
        await other.claim("gone", 1, lease=0.0)
        async with (
            ActorSystem("second") as system,
            JobQueue(system, store=durable.url, poll_interval=0.05, lease=1) as queue,
        ):
            handle = await queue.get(expired.id)
            assert handle is not None
            assert await handle.result() == 3
            live_handle = await queue.get(live.id)
            assert live_handle is not None
            assert live_handle.status() is JobStatus.RUNNING  # its owner may still be alive
    finally:
        await other.close()


def make_effects_db(path: Path) -> None:
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("CREATE TABLE runs (key TEXT NOT NULL)")
    db.execute("CREATE TABLE results (key TEXT PRIMARY KEY)")
    db.close()


def rows(path: Path, sql: str) -> list[tuple[object, ...]]:
    db = sqlite3.connect(path)
    try:
        return list(db.execute(sql))
    finally:
        db.close()


async def test_two_queues_on_one_store_share_the_work_and_never_run_a_job_twice(
    durable: Kind, tmp_path: Path
) -> None:
    effects = tmp_path / "effects.db"
    make_effects_db(effects)
    async with (
        ActorSystem("shared") as system,
        JobQueue(system, store=durable.url, name="a", poll_interval=0.02, lease=1) as a,
        JobQueue(system, store=durable.url, name="b", poll_interval=0.02, lease=1) as b,
    ):
        handles = [
            await (a if n % 2 else b).submit(tasks.record_once, str(effects), f"k{n}")
            for n in range(60)
        ]
        assert [await h.result() for h in handles] == [f"k{n}" for n in range(60)]
        assert (await a.counts()).running == 0
    runs = sorted(str(key) for (key,) in rows(effects, "SELECT key FROM runs"))
    assert runs == sorted(f"k{n}" for n in range(60))


async def test_closures_are_stored_by_value_and_unpicklable_ones_fail_at_submit(
    durable: Kind,
) -> None:
    base = 100
    async with ActorSystem("jobs") as system, JobQueue(system, store=durable.url) as queue:
        handle = await queue.submit(lambda n: base + n, 1)
        assert await handle.result() == 101
        lock = threading.Lock()
        with pytest.raises(JobSerializationError, match=r"an argument cannot be pickled"):
            await queue.submit(tasks.add, lock, 1)
        with pytest.raises(JobSerializationError, match=r"define it at module level"):
            await queue.submit(lambda: lock.locked())
        assert (await queue.counts()).queued == 0


async def test_failures_and_dead_letters_persist_with_their_errors(durable: Kind) -> None:
    async with ActorSystem("first") as system, JobQueue(system, store=durable.url) as queue:
        handle = await queue.submit(tasks.fail, "bad row 7", retry=Retry(1))
        with pytest.raises(ValueError, match="bad row 7"):
            await handle.result()
    async with ActorSystem("second") as system, JobQueue(system, store=durable.url) as queue:
        (dead,) = await queue.dead_letters()
        assert dead.id == handle.id
        assert isinstance(dead.error, ValueError)
        assert any(handle.id in note for note in getattr(dead.error, "__notes__", []))
        again = await queue.get(handle.id)
        assert again is not None
        with pytest.raises(ValueError, match="bad row 7"):
            await again.result()


async def test_progress_and_results_of_thread_jobs_are_stored(durable: Kind) -> None:
    gate = tasks.THREAD_GATES["stepped"] = threading.Event()

    async def open_gate() -> None:
        gate.set()

    async with ActorSystem("jobs") as system, JobQueue(system, store=durable.url) as queue:
        handle = await queue.submit(tasks.stepped_when_open, "stepped", 3)
        async with anyio.create_task_group() as group:
            # Runs once the iteration below waits, so after it began listening:
            # it yields only the reports made from then on.
            group.start_soon(open_gate)
            updates = [p.done async for p in handle.progress()]
        assert updates == [1, 2, 3]
        assert await handle.result() == 3


async def test_in_the_submitting_process_a_durable_job_runs_the_very_function_submitted(
    durable: Kind,
) -> None:
    seen: list[int] = []  # a copy decoded from the store would append to its own list

    def remember(n: int) -> None:
        seen.append(n)

    async with ActorSystem("jobs") as system, JobQueue(system, store=durable.url) as queue:
        await (await queue.submit(remember, 7)).result()
    assert seen == [7]


async def test_submit_many_commits_the_batch_at_once_or_not_at_all(durable: Kind) -> None:
    async with ActorSystem("jobs") as system, JobQueue(system, store=durable.url) as queue:
        lock = threading.Lock()
        with pytest.raises(JobSerializationError):
            await queue.submit_many(tasks.add, [(1, 1), (lock, 1)], delay=3600)
        assert (await queue.counts()).queued == 0
        handles = await queue.submit_many(tasks.add, [(n, 1) for n in range(100)], delay=0.1)
        counts = await queue.counts()  # some may be due and started already: all are there
        assert counts.queued + counts.running + counts.succeeded == 100
        assert [await h.result() for h in handles] == list(range(1, 101))
