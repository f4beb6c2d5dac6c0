"""A queue rides out a restart of its PostgreSQL server: the outcomes it could not
commit are kept and committed once the server is back, no job runs twice, the
queue goes on taking and running jobs, and the outage is logged once when it
begins and once when it ends. The server is the test's own (`postgres_instance`),
stopped and started for real."""

from __future__ import annotations

import logging

import anyio
import anyio.to_thread
import pytest

from actorlib import ActorSystem
from actorlib.jobs import (
    JobHandle,
    JobQueue,
    JobQueueClosedError,
    JobStatus,
    JobStoreUnavailableError,
    PostgresStore,
    _following,
    _outage,
    _postgres_plans,
)
from actorlib.jobs._model import JobRecord
from actorlib.jobs._outage import RETRY_FIRST, RETRY_MOST, StoreOutage
from tests.jobs import tasks
from tests.jobs.stores import record
from tests.postgres_instance import PostgresInstance
from tests.postgres_server import end_sessions, sql

pytestmark = pytest.mark.anyio


def warnings(caplog: pytest.LogCaptureFixture, text: str) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING and text in r.getMessage()
    ]


async def kept_uncommitted(queue: JobQueue, count: int) -> None:
    """Wait until the queue keeps *count* outcomes it could not commit (its
    scheduler's state, polled: no event says it)."""
    with anyio.fail_after(10):
        while queue.statistics().uncommitted != count:  # noqa: ASYNC110
            await anyio.sleep(0.01)


async def started_gated_job(queue: JobQueue, gate: str) -> JobHandle[int]:
    """A job that waits for its gate to open, submitted and started."""
    handle = await queue.submit(tasks.gated, gate, 1)
    with anyio.fail_after(10):
        await tasks.GATES[gate].started.wait()
    return handle


async def test_a_queue_keeps_an_outcome_through_a_restart_of_its_server_and_runs_nothing_twice(
    postgres_instance: PostgresInstance, caplog: pytest.LogCaptureFixture
) -> None:
    import psycopg

    gate = tasks.GATES["outage"] = tasks.Gate()
    url = f"{postgres_instance.url}?schema=outage"
    async with (
        ActorSystem("jobs") as system,
        JobQueue(system, store=url, workers=2, poll_interval=0.05) as queue,
    ):
        handle = await started_gated_job(queue, "outage")
        await anyio.to_thread.run_sync(postgres_instance.stop, "fast")
        with pytest.raises(JobStoreUnavailableError, match="cannot be reached") as refused:
            await queue.submit(tasks.add, 1, 1)
        assert isinstance(refused.value.__cause__, psycopg.OperationalError)
        assert refused.value.store == f"{postgres_instance.url}"
        gate.opened.set()  # the job ends while its store is down
        await kept_uncommitted(queue, 1)
        assert queue.statistics().store_unreachable_for is not None
        assert not handle.done()
        await anyio.to_thread.run_sync(postgres_instance.start)
        with anyio.fail_after(30):
            assert await handle.result() == 10
            assert queue.statistics().uncommitted == 0
            assert await (await queue.submit(tasks.add, 2, 3)).result() == 5
        info = handle.info()
        assert (info.status, info.attempts) == (JobStatus.SUCCEEDED, 1)
    assert gate.log == [1]  # started once: neither re-queued nor claimed again
    assert len(warnings(caplog, "cannot reach its store")) == 1
    assert len(warnings(caplog, "reached its store again")) == 1


async def test_a_queue_follows_a_failover_to_the_standby_its_url_names_and_runs_nothing_twice(
    postgres_pair: tuple[PostgresInstance, PostgresInstance], caplog: pytest.LogCaptureFixture
) -> None:
    # libpq's several hosts, the writable one chosen: the primary crashes with a
    # job running, its outcome waits, the standby is promoted, and the queue goes on
    # there. Replication is synchronous, so the promoted server has every commit.
    primary, standby = postgres_pair
    url = (
        f"postgresql://postgres@127.0.0.1:{primary.port},127.0.0.1:{standby.port}/postgres"
        f"?target_session_attrs=read-write&schema=failover"
    )
    gate = tasks.GATES["failover"] = tasks.Gate()
    async with (
        ActorSystem("jobs") as system,
        JobQueue(system, store=url, workers=2, poll_interval=0.05) as queue,
    ):
        handle = await started_gated_job(queue, "failover")
        with anyio.fail_after(10):
            # A claim commits without waiting for a flush (a claim lost in a crash
            # only runs its job again): it reaches the standby soon, not at once.
            on_standby = f"SELECT status FROM failover.jobs WHERE id = '{handle.id}'"
            while await sql(standby.url, on_standby) != [("running",)]:  # noqa: ASYNC110
                await anyio.sleep(0.01)
        await anyio.to_thread.run_sync(primary.stop)  # immediate: as a crash
        gate.opened.set()  # the job ends while no server takes writes
        await kept_uncommitted(queue, 1)
        await anyio.to_thread.run_sync(standby.promote)
        with anyio.fail_after(30):
            assert await handle.result() == 10
            assert await (await queue.submit(tasks.add, 2, 3)).result() == 5
        info = handle.info()
        assert (info.status, info.attempts) == (JobStatus.SUCCEEDED, 1)
    assert gate.log == [1]  # started once, on the old primary
    assert len(warnings(caplog, "cannot reach its store")) == 1
    assert len(warnings(caplog, "reached its store again")) == 1


async def test_a_queue_closing_in_an_outage_waits_a_while_for_its_store_then_says_what_is_lost(
    postgres_instance: PostgresInstance,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_outage, "CLOSE_PATIENCE", 0.5)
    gate = tasks.GATES["closing"] = tasks.Gate()
    url = f"{postgres_instance.url}?schema=closing"
    async with ActorSystem("jobs") as system:
        queue = await JobQueue.start(system, store=url, workers=1, poll_interval=0.05)
        handle = await queue.submit(tasks.gated, "closing", 2)
        with anyio.fail_after(10):
            await gate.started.wait()
        await anyio.to_thread.run_sync(postgres_instance.stop, "fast")
        gate.opened.set()
        await kept_uncommitted(queue, 1)
        with anyio.fail_after(10):
            await queue.close()  # waits CLOSE_PATIENCE for the store, not for ever
        with pytest.raises(JobQueueClosedError):
            await handle.result()
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert any(
        "closed while its store could not be reached: the outcomes of 1 jobs were not "
        "committed, and those jobs will run again" in m
        for m in errors
    ), errors


async def test_the_first_call_after_a_restart_of_the_server_succeeds(
    postgres_instance: PostgresInstance,
) -> None:
    # Each of the pool's connections was ended by the server while idle: the
    # store sees it before using one, and connects again, instead of failing
    # the caller's call on it.
    store = PostgresStore(f"{postgres_instance.url}?schema=restart", connections=2)
    await store.open("a")
    try:
        await store.add(record(store.now))
        await anyio.to_thread.run_sync(postgres_instance.stop, "fast")
        await anyio.to_thread.run_sync(postgres_instance.start)
        assert (await store.counts())[JobStatus.QUEUED] == 1
        assert (await store.counts())[JobStatus.QUEUED] == 1
    finally:
        await store.close()


async def test_just_after_the_server_restarts_no_owner_counts_as_dead_for_want_of_its_lock(
    postgres_instance: PostgresInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The restart ended every session, so every owner's lock is free until its
    # queue listens again. Within the grace nobody re-queues its running jobs (they
    # would run twice); after it, an owner still without its lock is dead.
    monkeypatch.setattr(_postgres_plans, "RESTART_GRACE", 3.0)
    url = f"{postgres_instance.url}?schema=grace"
    first, second = PostgresStore(url), PostgresStore(url)
    await first.open("first")
    try:
        await first.add(record(first.now))
        (claimed,) = await first.claim("first", 1, lease=600)
        await anyio.to_thread.run_sync(postgres_instance.stop, "fast")
        await anyio.to_thread.run_sync(postgres_instance.start)
        await second.open("second")
        assert await second.reclaim_expired() == 0
        with anyio.fail_after(10):
            while not await second.reclaim_expired():  # noqa: ASYNC110 (the server's clock)
                await anyio.sleep(0.1)
        (again,) = await second.get_many([claimed.id])
        assert again.status is JobStatus.QUEUED
    finally:
        await first.close()
        await second.close()


async def wait_until_server_up_for(url: str, seconds: float) -> None:
    import psycopg

    async with await psycopg.AsyncConnection.connect(url) as connection:
        with anyio.fail_after(seconds + 10):
            while True:
                cursor = await connection.execute(
                    "SELECT clock_timestamp() - pg_postmaster_start_time() "
                    "> make_interval(secs => %s)",
                    (seconds,),
                )
                if (await cursor.fetchone()) == (True,):
                    return
                await anyio.sleep(0.1)


@pytest.mark.parametrize("anyio_backend", ["asyncio"])  # the server's grace, not the backend
async def test_after_the_server_ended_every_session_no_owner_counts_as_dead_for_want_of_its_lock(
    postgres_instance: PostgresInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A failover to a standby (or an operator ending every session) frees every
    # owner's lock as a restart does, but the server has run for long: its start
    # time says nothing. The reclaimer lost its own listening session too: while it
    # is down, and for the grace after it listens again, nobody is dead for want of
    # a lock (the others are reconnecting as it did); an owner still without its
    # lock after that is dead.
    monkeypatch.setattr(_postgres_plans, "RESTART_GRACE", 2.0)
    await wait_until_server_up_for(postgres_instance.url, 2.0)
    url = f"{postgres_instance.url}?schema=ended"
    first, second = PostgresStore(url), PostgresStore(url)
    await first.open("first")
    await second.open("second")
    try:
        await first.add(record(first.now))
        (claimed,) = await first.claim("first", 1, lease=600)
        assert await second.reclaim_expired() == 0  # first is alive
        assert await anyio.to_thread.run_sync(end_sessions, postgres_instance.url) >= 4
        with anyio.fail_after(10), pytest.raises(JobStoreUnavailableError):
            await second.watch(lambda: None)
        # first never listens again: it stands for an owner still reconnecting.
        assert await second.reclaim_expired() == 0
        async with anyio.create_task_group() as listening:
            listening.start_soon(second.watch, lambda: None)
            with anyio.fail_after(10):
                while second.listens < 2:  # noqa: ASYNC110 (no event says it)
                    await anyio.sleep(0.01)
            assert await second.reclaim_expired() == 0
            with anyio.fail_after(10):
                while not await second.reclaim_expired():  # noqa: ASYNC110 (the grace)
                    await anyio.sleep(0.1)
            listening.cancel_scope.cancel()
        (again,) = await second.get_many([claimed.id])
        assert again.status is JobStatus.QUEUED
    finally:
        await first.close()
        await second.close()


async def test_a_process_never_counts_itself_dead(postgres_url: str) -> None:
    # Its listening session (and with it its lock) was lost; it is alive, since it asks.
    store = PostgresStore(postgres_url)
    await store.open("me")
    try:
        await store.add(record(store.now))
        await store.claim("me", 1, lease=600)
        await store._hearing.close()
        assert await store.reclaim_expired() == 0
    finally:
        await store.close()


def test_an_outage_is_logged_when_it_begins_and_when_it_ends_with_a_doubling_pause(
    caplog: pytest.LogCaptureFixture,
) -> None:
    outage = StoreOutage("jobs")
    error = ConnectionRefusedError("refused\nsecond line")
    pauses = [outage.failed(error, 10.0 + n, kept=2) for n in range(8)]
    assert pauses[0] == RETRY_FIRST
    assert pauses[1] == 2 * RETRY_FIRST
    assert pauses[-1] == RETRY_MOST
    assert outage.unreachable_for(12.5) == 2.5
    outage.reached(20.5)
    outage.reached(21.0)  # nothing more to say
    assert outage.unreachable_for(21.0) is None
    assert [r.getMessage() for r in caplog.records] == [
        "job queue 'jobs' cannot reach its store (ConnectionRefusedError: refused); "
        "keeping 2 outcomes not yet committed and trying again until it answers",
        "job queue 'jobs' reached its store again after 10.5 s (8 failed tries)",
    ]
    assert outage.failed(error, 30.0, kept=0) == RETRY_FIRST  # a new outage starts afresh


async def test_a_tell_of_started_jobs_lost_to_an_outage_is_logged_in_one_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Seen in a worker through a crash of the server: a traceback of 40 lines for
    # an outage that says it all in one.
    async def tell(told: list[JobRecord]) -> None:
        raise JobStoreUnavailableError("postgresql://db/jobs", "ConnectionRefusedError: refused")

    async with ActorSystem("jobs") as system, JobQueue(system, name="outage") as queue:
        assert queue._core is not None
        await _following.tell_started(queue._core, tell, [])
    [logged] = [r for r in caplog.records if "could not tell" in r.getMessage()]
    assert logged.exc_info is None
    assert logged.getMessage().startswith(
        "job queue 'outage' could not tell other processes that 0 jobs started: "
        "JobStoreUnavailableError: the job store postgresql://db/jobs cannot be reached "
        "(ConnectionRefusedError: refused)"
    )
