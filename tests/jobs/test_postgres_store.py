"""The PostgreSQL store's own rules: its URL, its optional driver, its migrations, NOTIFY
wake-ups and lost connections; what every store promises is in test_store_conformance.py."""

from __future__ import annotations

import logging
import subprocess
import sys

import anyio
import anyio.to_thread
import pytest

from actorlib import ActorSystem
from actorlib.jobs import JobQueue, JobStatus, PostgresStore
from actorlib.jobs._postgres_sql import MIGRATIONS
from tests.jobs import tasks
from tests.jobs.stores import record

pytestmark = pytest.mark.anyio


async def sql(url: str, query: str, *params: object) -> list[tuple[object, ...]]:
    """Run one statement on a connection of its own (as another process would)."""
    import psycopg

    def run() -> list[tuple[object, ...]]:
        with psycopg.connect(url.partition("?")[0], autocommit=True) as conn:
            cursor = conn.execute(query, params)
            return cursor.fetchall() if cursor.description else []

    return await anyio.to_thread.run_sync(run)


def schema_of(url: str) -> str:
    return url.rpartition("schema=")[2]


def test_importing_actorlib_jobs_does_not_import_psycopg() -> None:
    code = "import sys, actorlib.jobs; print('psycopg' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "False"


async def test_without_psycopg_start_fails_naming_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if it were not installed
    async with ActorSystem("jobs") as system:
        with pytest.raises(ImportError, match=r"pip install 'actorlib\[postgres\]'"):
            await JobQueue.start(system, store="postgresql://nobody@127.0.0.1:1/none")


def test_a_store_url_names_its_schema_and_never_shows_its_password() -> None:
    store = PostgresStore("postgres://app:secret@db.example:5433/jobs?schema=orders&sslmode=off")
    assert store.schema == "orders"
    assert store.url == "postgres://app:***@db.example:5433/jobs"
    assert "secret" not in repr(store)
    assert PostgresStore("postgresql://app@db/jobs").schema == "actorlib"
    assert PostgresStore("postgresql://app@db/jobs?schema=a", schema="b").schema == "b"


@pytest.mark.parametrize(
    ("url", "options", "match"),
    [
        ("postgresql://db/jobs?schema=Orders", {}, r"schema must be a lower-case SQL name"),
        ("postgresql://db/jobs", {"schema": "a;drop"}, r"got 'a;drop'; e\.g\. postgresql://"),
        ("mysql://db/jobs", {}, r"starts with postgresql:// or postgres://, got 'mysql://"),
        ("postgresql://db/jobs", {"connections": 0}, r"connections must be an int >= 1, got 0"),
    ],
)
def test_bad_store_settings_are_refused_naming_the_rule(
    url: str, options: dict[str, object], match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        PostgresStore(url, **options)  # type: ignore[arg-type]


async def test_stores_opening_at_once_migrate_the_schema_once(postgres_url: str) -> None:
    stores = [PostgresStore(postgres_url) for _ in range(4)]
    try:
        async with anyio.create_task_group() as tg:
            for n, store in enumerate(stores):
                tg.start_soon(store.open, f"owner-{n}")
    finally:
        for store in stores:
            await store.close()
    versions = await sql(
        postgres_url, f'SELECT version FROM "{schema_of(postgres_url)}".schema_version'
    )
    assert sorted(versions) == [(v,) for v in range(1, len(MIGRATIONS) + 1)]


async def test_a_job_added_by_another_process_wakes_the_queue_at_once(postgres_url: str) -> None:
    other = PostgresStore(postgres_url)  # as another process would
    async with (
        ActorSystem("jobs") as system,
        # Polls once an hour: only the NOTIFY can wake it in time.
        JobQueue(system, store=postgres_url, poll_interval=3600, lease=7200) as queue,
    ):
        await other.open("other")
        try:
            job = record(other.now)
            await other.add(job)
            handle = await queue.get(job.id)
            assert handle is not None
            with anyio.fail_after(10):
                assert await handle.result() == 3
            # Not due for an hour, so this queue cannot take it yet: then the
            # other process makes it a retry due now, which wakes this queue too.
            retried = record(other.now, attempts=2, delay=3600)
            await other.add(retried)
            retried.status, retried.run_at = JobStatus.RETRYING, other.now()
            retried.attempts = 1  # as if its first attempt had failed there
            await other.save(retried)
            again = await queue.get(retried.id)
            assert again is not None
            with anyio.fail_after(10):
                assert await again.result() == 3
            assert again.info().attempts == 2
        finally:
            await other.close()


async def test_a_queue_listens_again_after_its_listening_connection_is_lost(
    postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    listeners = "SELECT pid FROM pg_stat_activity WHERE application_name = %s"
    pattern = f"actorlib.jobs {schema_of(postgres_url)} listener"
    async with (
        ActorSystem("jobs") as system,
        JobQueue(system, store=postgres_url, poll_interval=0.05) as queue,
    ):
        ((pid,),) = await sql(postgres_url, listeners, pattern)
        await sql(postgres_url, "SELECT pg_terminate_backend(%s)", pid)
        with anyio.fail_after(10):
            while True:  # polling the server's view until the queue has listened again
                found = await sql(postgres_url, listeners, pattern)
                if found and found != [(pid,)]:
                    break
                await anyio.sleep(0.02)
        assert await (await queue.submit(tasks.add, 2, 2)).result() == 4
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert any("stopped listening to its store" in r.getMessage() for r in warnings)


async def test_a_lost_connection_fails_one_call_and_the_next_reconnects(postgres_url: str) -> None:
    import psycopg

    store = PostgresStore(postgres_url, connections=1)
    await store.open("owner")
    try:
        await store.add(record(store.now))
        await sql(
            postgres_url,
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
            f"actorlib.jobs {store.schema}",
        )
        with pytest.raises(psycopg.OperationalError):
            await store.counts()
        assert (await store.counts())[JobStatus.QUEUED] == 1
    finally:
        await store.close()


async def test_a_dependent_added_while_its_prerequisite_ends_waits_and_sees_it_ended(
    postgres_url: str,
) -> None:
    import psycopg

    store = PostgresStore(postgres_url)
    await store.open("a")
    try:
        prerequisite = record(store.now)
        await store.add(prerequisite)
        dependent = record(store.now)
        dependent.after = (prerequisite.id,)
        table = f'"{schema_of(postgres_url)}".jobs'
        # Another process ends the prerequisite and has not committed yet.
        # (A blocking connection in a thread: psycopg's async one does not run on trio.)
        conninfo = postgres_url.partition("?")[0]
        other: psycopg.Connection[tuple[object, ...]] = await anyio.to_thread.run_sync(
            lambda: psycopg.connect(conninfo)
        )
        try:
            await anyio.to_thread.run_sync(
                other.execute,
                f"UPDATE {table} SET status = 'succeeded' WHERE id = %s",
                (prerequisite.id,),
            )
            added = anyio.Event()

            async def add() -> None:
                await store.add(dependent)
                added.set()

            async with anyio.create_task_group() as tasks_:
                tasks_.start_soon(add)
                with anyio.move_on_after(0.3):
                    await added.wait()
                assert not added.is_set()  # FOR SHARE waits for the other commit
                await anyio.to_thread.run_sync(other.commit)
                await added.wait()
        finally:
            await anyio.to_thread.run_sync(other.close)
        assert dependent.blockers == 0  # it read the committed end: nothing to wait for
        (claimed,) = await store.claim("a", 10, lease=30)
        assert claimed.id == dependent.id
    finally:
        await store.close()


async def test_the_jobs_of_an_owner_whose_session_ended_are_queued_again_before_their_lease(
    postgres_url: str,
) -> None:
    doomed = PostgresStore(postgres_url)  # as a worker process that is about to die
    await doomed.open("doomed-worker")
    job = record(doomed.now)
    await doomed.add(job)
    (claimed,) = await doomed.claim("doomed-worker", 1, lease=3600)
    assert claimed.id == job.id
    survivor = PostgresStore(postgres_url)
    await survivor.open("survivor")
    try:
        assert await survivor.reclaim_expired() == 0  # its owner lives: leased for an hour
        await doomed.close()  # its sessions end, as they do when the process is killed
        # The server frees the lock as the backend exits, a few ms after the
        # disconnect (notes: 5 ms for a SIGKILL): no event to wait on, so look again.
        for _ in range(1000):
            if await survivor.reclaim_expired():
                break
            await anyio.sleep(0.005)
        else:
            pytest.fail("the dead owner's job was not re-queued within 5 s")
        back = await survivor.get(job.id)
        assert back is not None
        assert (back.status, back.owner, back.attempts) == (JobStatus.QUEUED, None, 0)
    finally:
        await survivor.close()
