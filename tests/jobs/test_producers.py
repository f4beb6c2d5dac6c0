"""A queue with workers=0 submits and follows jobs that other queues (processes) run."""

from __future__ import annotations

import collections
import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import psycopg
import pytest

from actorlib import ActorSystem
from actorlib.jobs import (
    JobEvent,
    JobHandle,
    JobProgress,
    JobQueue,
    JobRecord,
    JobStarted,
    JobStatus,
    JobStore,
    JobSucceeded,
    PostgresStore,
    Progress,
    SqliteStore,
    _scheduler,
    _started,
)
from actorlib.jobs._model import JobChange
from actorlib.jobs._postgres_link import Statement, connect
from tests.helpers import Probe
from tests.jobs import tasks
from tests.jobs.stores import DURABLE_KINDS, make_kind, record
from tests.jobs.test_progress_and_events import Recorder

pytestmark = pytest.mark.anyio

# Short polls: SQLite has no notifications, and progress is shared at each poll.
POLL, LEASE = 0.05, 1.0


@pytest.mark.parametrize("kind", DURABLE_KINDS)
async def test_a_producer_follows_result_progress_callbacks_and_events_of_a_job_run_elsewhere(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    url = make_kind(kind, request, tmp_path).url
    gate = tasks.GATES["elsewhere"] = tasks.Gate()
    probe, done = Probe(), Probe()
    async with ActorSystem("jobs") as system:
        recorder = await system.spawn(Recorder, probe)
        system.events.subscribe(recorder, JobEvent)
        async with (
            JobQueue(
                system, store=url, workers=0, name="producer", poll_interval=POLL, lease=LEASE
            ) as producer,
            JobQueue(system, store=url, workers=1, name="worker", poll_interval=POLL, lease=LEASE),
        ):
            handle = await producer.submit(tasks.gated_progress, "elsewhere", 4)
            handle.add_done_callback(done.put)
            reports = []
            with anyio.fail_after(10):
                async for report in handle.progress():  # ends when the job does
                    reports.append(report)
                    assert producer.statistics().running_here == 0  # the worker queue runs it
                    gate.opened.set()
            assert reports == [Progress(1, 2, note="half")]
            with anyio.fail_after(10):
                assert await handle.result() == 40
            found = await producer.get(handle.id)
            assert found is not None
            assert found.done()
            assert await found.result() == 40
        await probe.wait_for(
            lambda items: any(isinstance(e, JobSucceeded) and e.queue == "producer" for e in items)
        )
    assert done.items == [handle]
    seen = [type(e).__name__ for e in probe.items if getattr(e, "queue", "") == "producer"]
    assert seen[0] == "JobQueued"
    assert seen[-1] == "JobSucceeded"
    assert any(isinstance(e, JobProgress) and e.queue == "producer" for e in probe.items)
    # Told (PostgreSQL) or read (SQLite) while it ran, or shown before its outcome.
    assert any(isinstance(e, JobStarted) and e.queue == "producer" for e in probe.items)


@pytest.mark.parametrize("kind", DURABLE_KINDS)
async def test_a_producer_joins_once_the_workers_elsewhere_have_run_every_job(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    url = make_kind(kind, request, tmp_path).url
    async with (
        ActorSystem("jobs") as system,
        JobQueue(
            system, store=url, workers=0, name="producer", poll_interval=POLL, lease=LEASE
        ) as producer,
        JobQueue(system, store=url, workers=2, name="worker", poll_interval=POLL, lease=LEASE),
    ):
        handles = await producer.submit_many(tasks.add, [(n, 1) for n in range(10)])
        with anyio.fail_after(10):
            await producer.join()
        assert all(h.done() for h in handles)
        assert [await h.result() for h in handles] == [n + 1 for n in range(10)]
        assert (await producer.counts()).succeeded == 10


async def test_a_producer_alone_runs_nothing_and_its_jobs_wait_in_the_store(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    async with (
        ActorSystem("jobs") as system,
        JobQueue(system, store=url, workers=0, poll_interval=0.05, lease=1.0) as producer,
    ):
        handle = await producer.submit(tasks.add, 1, 2)
        assert producer.statistics().workers == 0
        with pytest.raises(TimeoutError, match=r"did not end within 0.2 s \(it is queued"):
            await handle.result(timeout=0.2)
    async with (
        ActorSystem("jobs") as system,
        JobQueue(system, store=url, workers=1, poll_interval=0.05, lease=1.0) as worker,
    ):
        later = await worker.get(handle.id)
        assert later is not None
        with anyio.fail_after(10):
            assert await later.result() == 3


def test_a_producer_on_the_memory_store_is_refused_naming_the_fix() -> None:
    with pytest.raises(ValueError, match=r"workers=0 with the memory store: nothing could ever"):
        JobQueue(ActorSystem("jobs"), store="memory", workers=0)


async def test_close_with_a_grace_puts_jobs_still_running_back_in_the_queue(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    gate = tasks.GATES["grace"] = tasks.Gate()
    async with ActorSystem("jobs") as system:
        queue = await JobQueue.start(system, store=url, workers=1)
        handle = await queue.submit(tasks.gated, "grace", 1)
        with anyio.fail_after(10):
            await gate.started.wait()
        await queue.close(grace=0.01)  # the gate never opens
        assert queue.interrupted_at_close
        assert handle.info().status is JobStatus.RUNNING  # this process stopped following it
    async with ActorSystem("jobs") as system, JobQueue(system, store=url, workers=0) as producer:
        back = await producer.get(handle.id)
        assert back is not None
        assert (back.info().status, back.info().attempts) == (JobStatus.QUEUED, 0)


async def test_close_with_a_grace_waits_for_jobs_that_end_within_it(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    gate = tasks.GATES["within"] = tasks.Gate()
    async with ActorSystem("jobs") as system:
        queue = await JobQueue.start(system, store=url, workers=1)
        handle = await queue.submit(tasks.gated, "within", 2)
        with anyio.fail_after(10):
            await gate.started.wait()
        async with anyio.create_task_group() as tg:
            tg.start_soon(functools.partial(queue.close, grace=60))
            await anyio.wait_all_tasks_blocked()
            gate.opened.set()
        assert handle.info().status is JobStatus.SUCCEEDED
        assert await handle.result() == 20
        assert not queue.interrupted_at_close


@pytest.mark.parametrize(
    ("store", "grace", "match"),
    [
        ("memory", 1.0, r"grace needs a durable store: the memory store has nowhere to put"),
        ("sqlite", -1.0, r"grace must be a number of seconds >= 0 or None, got -1.0"),
    ],
)
async def test_a_bad_grace_is_refused_naming_the_rule(
    store: str, grace: float, match: str, tmp_path: Path
) -> None:
    url = store if store == "memory" else f"sqlite:///{tmp_path / 'jobs.db'}"
    async with ActorSystem("jobs") as system, JobQueue(system, store=url) as queue:
        with pytest.raises(ValueError, match=match):
            await queue.close(grace=grace)


async def test_on_postgres_a_job_submitted_or_looked_up_is_followed_by_notification(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    # Polls 30 s apart: within the deadline, only notifications can tell the
    # producers. A store hears job state changes once its process follows a job:
    # at its first submit (the submitter) or its first look-up (the observer).
    url = make_kind("postgres", request, tmp_path).url
    gate = tasks.GATES["followed"] = tasks.Gate()
    async with (
        ActorSystem("jobs") as system,
        JobQueue(
            system, store=url, workers=0, name="submitter", poll_interval=30, lease=60
        ) as submitter,
        JobQueue(
            system, store=url, workers=0, name="observer", poll_interval=30, lease=60
        ) as observer,
        JobQueue(system, store=url, workers=1, name="worker", poll_interval=30, lease=60),
    ):
        handle = await submitter.submit(tasks.gated_progress, "followed", 3)
        with anyio.fail_after(10):
            await gate.started.wait()
        seen = await observer.get(handle.id)
        assert seen is not None
        gate.opened.set()
        with anyio.fail_after(5):
            assert await handle.result() == 30
            assert await seen.result() == 30


class _CountingPostgresStore(PostgresStore):
    """A real PostgreSQL store that counts its polls and its reads of followed jobs."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.polls = 0
        self.polled = anyio.Event()
        self.reads: list[int] = []  # the poll each read of followed jobs came after

    async def reclaim_expired(self) -> int:  # every poll calls it
        self.polls += 1
        self.polled.set()
        return await super().reclaim_expired()

    async def get_many(self, job_ids: list[str]) -> list[JobRecord]:
        self.reads.append(self.polls)
        return await super().get_many(job_ids)

    async def wait_polls(self, count: int) -> None:
        while self.polls < count:
            self.polled = anyio.Event()
            await self.polled.wait()


async def test_on_postgres_a_producer_rereads_its_followed_jobs_only_after_a_break_in_listening(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    # Listening without a break, the store tells every change: reading every
    # followed job at every poll (O(followed) a poll) would find nothing new.
    # After the listener's session is killed, changes may have been missed:
    # the next poll reads them all.
    url = make_kind("postgres", request, tmp_path).url
    store = _CountingPostgresStore(url)
    gate = tasks.GATES["reread"] = tasks.Gate()
    async with (
        ActorSystem("jobs") as system,
        JobQueue(system, store=store, workers=0, poll_interval=0.02, lease=1.0) as producer,
    ):
        await producer.submit(tasks.gated_progress, "reread", 1)  # nothing runs it
        with anyio.fail_after(10):
            await store.wait_polls(3)
        listening = [poll for poll in store.reads if poll >= 2]
        reads = len(store.reads)
        with anyio.fail_after(10):
            await store.wait_polls(store.polls + 10)
        assert len(store.reads) == reads, "followed jobs were read again with no break"
        assert store.listens == 1
        assert not listening
        database = url.split("?")[0]
        listener = f"actorlib.jobs {store.schema} listener"

        def kill_the_listener() -> None:  # psycopg's async side runs on asyncio only
            with psycopg.connect(database, autocommit=True) as admin:
                admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE application_name = %s",
                    (listener,),
                )

        await anyio.to_thread.run_sync(kill_the_listener)
        with anyio.fail_after(10):
            while store.listens < 2:
                await store.wait_polls(store.polls + 1)
            await store.wait_polls(store.polls + 2)
        assert len(store.reads) > reads, "no read after the listener was lost"
    gate.opened.set()


class _ReturnsLate(PostgresStore):
    """A real PostgreSQL store whose `add_many` returns only once another process ran
    the job and this process's queue has heard so: the race of a fast worker."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.heard: collections.Counter[str] = collections.Counter()
        self.news = anyio.Event()

    async def watch(
        self,
        wake: Callable[[], None] | None,
        changed: Callable[[list[str | JobChange]], None] | None = None,
    ) -> None:
        def heard(changes: list[str | JobChange]) -> None:
            self.heard.update(c if isinstance(c, str) else c.job_id for c in changes)
            self.news.set()
            if changed is not None:
                changed(changes)

        await super().watch(wake, heard)

    async def add_many(self, records: list[JobRecord]) -> list[tuple[JobRecord, bool]]:
        added = await super().add_many(records)
        with anyio.fail_after(10):
            for record, _ in added:
                while self.heard[record.id] < 1:  # succeeded (a claim tells nobody)
                    self.news = anyio.Event()
                    await self.news.wait()
        await anyio.wait_all_tasks_blocked()  # the queue has handled what it heard
        return added


async def test_on_postgres_a_job_run_elsewhere_before_its_submit_returns_is_still_followed(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    # The worker claims, runs and saves the job, and the submitter hears of it,
    # before its submit has returned: nobody followed the job yet when its
    # notifications came. Polls are 30 s apart: only a read at submit saves it.
    url = make_kind("postgres", request, tmp_path).url
    async with (
        ActorSystem("jobs") as system,
        JobQueue(
            system,
            store=_ReturnsLate(url),
            workers=0,
            name="producer",
            poll_interval=30,
            lease=60,
        ) as producer,
        JobQueue(system, store=url, workers=1, name="worker", poll_interval=30, lease=60),
    ):
        handle = await producer.submit(tasks.add, 1, 2)
        with anyio.fail_after(5):
            assert await handle.result() == 3


class _CountsReads(PostgresStore):
    """A real PostgreSQL store that remembers which jobs its queue read."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.read: list[str] = []

    async def get_many(self, job_ids: list[str]) -> list[JobRecord]:
        self.read += job_ids
        return await super().get_many(job_ids)


async def test_on_postgres_a_producer_learns_a_start_and_a_small_result_without_reading(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    # The outcome's notification says when the attempt started, and that the job
    # succeeded with its result: the producer shows both, events and all (the
    # start first), and reads no row. A result too big for a notification is read.
    url = make_kind("postgres", request, tmp_path).url
    store = _CountsReads(url)
    probe = Probe()
    big = "x" * 20_000
    async with ActorSystem("jobs") as system:
        recorder = await system.spawn(Recorder, probe)
        system.events.subscribe(recorder, JobEvent)
        async with (
            JobQueue(
                system, store=store, workers=0, name="producer", poll_interval=30, lease=60
            ) as producer,
            JobQueue(system, store=url, workers=1, name="worker", poll_interval=30, lease=60),
        ):
            small = await producer.submit(tasks.echo, {"n": [1, 2]})
            with anyio.fail_after(10):
                assert await small.result() == {"n": [1, 2]}
            large = await producer.submit(tasks.echo, big)
            with anyio.fail_after(10):
                assert await large.result() == big
        await probe.wait_for(
            lambda items: (
                sum(isinstance(e, JobSucceeded) and e.queue == "producer" for e in items) == 2
            )
        )
    assert store.read == [large.id]
    producer_seen = [
        type(e).__name__
        for e in probe.items
        if isinstance(e, JobEvent) and e.job_id == small.id and e.queue == "producer"
    ]
    assert producer_seen == ["JobQueued", "JobStarted", "JobSucceeded"]
    info = small.info()
    assert info.status is JobStatus.SUCCEEDED
    assert info.attempts == 1
    assert info.started_at is not None
    assert info.finished_at is not None
    assert info.started_at <= info.finished_at


#: Polls too rare to matter: only notifications tell the producer anything.
_SLOW: dict[str, Any] = {"poll_interval": 30, "lease": 60}


async def test_on_postgres_a_job_that_runs_a_while_is_seen_running_elsewhere_before_it_ends(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The claim tells nobody; the worker's queue tells the start once the attempt
    # has run TELL_STARTED_AFTER (here 0: at once), and the producer shows it.
    monkeypatch.setattr(_scheduler, "TELL_STARTED_AFTER", 0.0, raising=False)
    monkeypatch.setattr(_started, "TELL_STARTED_AFTER", 0.0)
    url = make_kind("postgres", request, tmp_path).url
    gate = tasks.GATES["seen-running"] = tasks.Gate()
    probe = Probe()
    async with ActorSystem("jobs") as system:
        recorder = await system.spawn(Recorder, probe)
        system.events.subscribe(recorder, JobEvent)
        async with (
            JobQueue(system, store=url, workers=0, name="producer", **_SLOW) as producer,
            JobQueue(system, store=url, workers=1, name="worker", **_SLOW),
        ):
            handle = await producer.submit(tasks.gated, "seen-running", 5)
            await probe.wait_for(
                lambda items: any(
                    isinstance(e, JobStarted) and e.queue == "producer" for e in items
                )
            )
            info = handle.info()
            assert (info.status, info.attempts) == (JobStatus.RUNNING, 1)
            gate.opened.set()
            with anyio.fail_after(10):
                assert await handle.result() == 50


async def test_on_postgres_an_attempt_that_ends_soon_is_told_by_its_outcome_alone(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No notification for the claim, none for the start of an attempt that ended
    # before TELL_STARTED_AFTER (here 60 s): one per job, its outcome's.
    monkeypatch.setattr(_scheduler, "TELL_STARTED_AFTER", 60.0, raising=False)
    monkeypatch.setattr(_started, "TELL_STARTED_AFTER", 60.0)
    url = make_kind("postgres", request, tmp_path).url
    conninfo, schema = url.partition("?")[0], url.rpartition("schema=")[2]
    channel = f"actorlib_state.{schema}"
    link = await connect(conninfo, [Statement(f'LISTEN "{channel}"')])
    try:
        async with (
            ActorSystem("jobs") as system,
            JobQueue(system, store=url, workers=0, name="producer", **_SLOW) as producer,
            JobQueue(system, store=url, workers=1, name="worker", **_SLOW),
        ):
            handles = [await producer.submit(tasks.add, n, 1) for n in range(3)]
            with anyio.fail_after(10):
                assert [await h.result() for h in handles] == [1, 2, 3]
        with psycopg.connect(conninfo, autocommit=True) as other:
            other.execute("SELECT pg_notify(%s, 'end')", (channel,))
        payloads: list[str] = []
        with anyio.fail_after(5):
            while "end" not in payloads:
                payloads += [n.payload for n in await link.wait_notifies()]
    finally:
        await link.close()
    told = [p.partition(",")[0] for p in payloads if p != "end"]
    assert sorted(told) == sorted(h.id for h in handles)
    assert all(",~s:1:" in p for p in payloads if p != "end")


class _LateLookup:
    """Holds a `get` that has read its job until the job has ended in the looking queue."""

    def __init__(self) -> None:
        self.ended = anyio.Event()
        self.held = anyio.Event()

    async def hold(self, found: JobRecord | None) -> JobRecord | None:
        self.held.set()
        with anyio.fail_after(10):
            await self.ended.wait()
        return found  # read while the job waited: stale by now


class _LateSqlite(SqliteStore):
    def __init__(self, path: str, late: _LateLookup) -> None:
        super().__init__(path)
        self.late = late

    async def get(self, job_id: str) -> JobRecord | None:
        return await self.late.hold(await super().get(job_id))


class _LatePostgres(PostgresStore):
    def __init__(self, url: str, late: _LateLookup) -> None:
        super().__init__(url)
        self.late = late

    async def get(self, job_id: str) -> JobRecord | None:
        return await self.late.hold(await super().get(job_id))


@pytest.mark.parametrize("kind", DURABLE_KINDS)
async def test_a_job_looked_up_while_it_ends_in_the_same_queue_is_still_followed(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    # `get` reads the job while it waits; this queue runs it and ends it before
    # `get` returns, so nobody here followed it when it ended. Polls are an hour
    # apart: only the queue remembering what it ended saves the handle.
    made = make_kind(kind, request, tmp_path)
    late = _LateLookup()
    store: JobStore
    if kind == "sqlite":
        store = _LateSqlite(made.url.removeprefix("sqlite:///"), late)
    else:
        store = _LatePostgres(made.url, late)
    other = made.store()  # another process added the job
    await other.open("other")
    job = record(other.now, delay=0.3)  # due once the look-up has read it
    try:
        await other.add(job)
    finally:
        await other.close()
    probe = Probe()
    async with ActorSystem("jobs") as system:
        recorder = await system.spawn(Recorder, probe)
        system.events.subscribe(recorder, JobSucceeded)
        async with JobQueue(system, store=store, poll_interval=3600, lease=7200) as queue:
            found: list[JobHandle[Any] | None] = []

            async def look_up() -> None:
                found.append(await queue.get(job.id))

            async with anyio.create_task_group() as group:
                group.start_soon(look_up)
                with anyio.fail_after(10):
                    await late.held.wait()
                    await probe.wait_for(lambda items: len(items) == 1)
                late.ended.set()
            (handle,) = found
            assert handle is not None
            with anyio.fail_after(5):
                assert await handle.result() == 3
    assert len(probe.items) == 1  # the re-read publishes no second JobSucceeded


async def test_on_postgres_a_submit_only_queue_never_hears_of_new_jobs_and_a_worker_queue_does(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    # Every submit notifies the new-jobs channel; a queue that runs no jobs
    # would only be woken (and the server busied) by each one, its own included.
    url = make_kind("postgres", request, tmp_path).url
    producer_store, worker_store = PostgresStore(url), PostgresStore(url)
    async with (
        ActorSystem("jobs") as system,
        JobQueue(system, store=producer_store, workers=0, name="producer") as producer,
        JobQueue(system, store=worker_store, workers=1, name="worker"),
    ):
        with anyio.fail_after(10):
            assert await (await producer.submit(tasks.add, 1, 2)).result() == 3
            # The worker's watch LISTENs in a task of its own, maybe after the job
            # ran: look at the server's state until it does (no event to wait on).
            while await worker_store.listening_channels() != {worker_store._channel}:  # noqa: ASYNC110
                await anyio.sleep(0.01)
        assert await producer_store.listening_channels() == {producer_store._state_channel}


class _NamesIdleChecks(PostgresStore):
    """A PostgreSQL store that lists the calls a queue makes to learn it is idle."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.checks: list[str] = []

    async def next_due(self) -> float | None:
        self.checks.append("next_due")
        return await super().next_due()

    async def running(self) -> int:
        self.checks.append("running")
        return await super().running()

    async def next_due_and_running(self) -> tuple[float | None, int]:
        self.checks.append("next_due_and_running")
        return await super().next_due_and_running()


async def test_on_postgres_a_producer_learns_it_is_idle_in_one_round_trip_after_its_last_job(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    # Once no job it follows is left, a producer asks the store whether any job
    # still waits or runs (for `join`): both questions in one statement.
    url = make_kind("postgres", request, tmp_path).url
    store = _NamesIdleChecks(url)
    async with (
        ActorSystem("jobs") as system,
        JobQueue(
            system, store=store, workers=0, name="producer", poll_interval=3600, lease=7200
        ) as producer,
        JobQueue(system, store=url, workers=1, name="worker", poll_interval=3600, lease=7200),
    ):
        handle = await producer.submit(tasks.add, 1, 2)
        store.checks.clear()
        with anyio.fail_after(10):
            assert await handle.result() == 3  # told by notification: no read
            await producer.join()
        assert store.checks  # it did ask
        assert set(store.checks) == {"next_due_and_running"}
