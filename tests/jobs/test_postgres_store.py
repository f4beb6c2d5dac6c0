"""The PostgreSQL store's own rules: its URL, its optional driver, its migrations, NOTIFY
wake-ups and lost connections; what every store promises is in test_store_conformance.py."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import anyio.to_thread
import attrs
import pytest

from actorlib import ActorSystem
from actorlib.jobs import JobQueue, JobStatus, PostgresStore, _pacing
from actorlib.jobs._codec import encode_outcome
from actorlib.jobs._model import JobChange, JobInfo, JobRecord
from actorlib.jobs._postgres_sql import (
    MIGRATIONS,
    NOTICE_RESULT_BYTES,
    NoticeKey,
    parse_state_payloads,
    started_suffix,
    state_notice,
)
from actorlib.jobs._postgres_url import parse_url
from tests.jobs import tasks
from tests.jobs.stores import record
from tests.postgres_instance import PostgresInstance
from tests.postgres_server import sql

pytestmark = pytest.mark.anyio


def schema_of(url: str) -> str:
    return url.rpartition("schema=")[2]


def test_importing_actorlib_jobs_does_not_import_psycopg() -> None:
    code = "import sys, actorlib.jobs; print('psycopg' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "False"


def test_the_first_open_imports_psycopg_off_the_event_loop(postgres_url: str) -> None:
    # In a fresh process, as a worker starts: the import (about 0.1 s) must not stall
    # the loop, which the watchdog would report with the import's frames.
    code = (
        "import anyio\n"
        "from actorlib import ActorSystem\n"
        "from actorlib.jobs import JobQueue\n"
        "async def main():\n"
        "    async with ActorSystem('s', slow_callback=0.05) as system:\n"
        f"        async with JobQueue(system, store={postgres_url!r}, workers=1):\n"
        "            pass\n"
        "anyio.run(main)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    blocked = result.stderr.split("the event loop has been blocked")[1:]
    assert not [part for part in blocked if "psycopg" in part], result.stderr


async def test_without_psycopg_start_fails_naming_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if it were not installed
    async with ActorSystem("jobs") as system:
        with pytest.raises(ImportError, match=r"pip install 'actorlib\[postgres\]'"):
            await JobQueue.start(system, store="postgresql://nobody@127.0.0.1:1/none")


def _state_row(status: str, result: object = None, progress: object = None) -> tuple[object, ...]:
    """A `state_row` as a worker saves it (the columns `state_notice` reads)."""
    encoded = None if result is None else encode_outcome(result, "job")
    shown = None if progress is None else encode_outcome(progress, "")
    return (status, 5.0, 1, encoded, None, shown, 10.25, 11.5, None, None, "j1")


KEY = NoticeKey(b"k" * 32)


def test_a_success_with_a_small_result_is_told_in_its_notification() -> None:
    (told,) = parse_state_payloads([state_notice(_state_row("succeeded", {"n": [1, 2]}), KEY)], KEY)
    assert told == JobChange("j1", JobStatus.SUCCEEDED, 1, 10.25, 11.5, {"n": [1, 2]})
    (none,) = parse_state_payloads([state_notice(_state_row("succeeded"), KEY)], KEY)
    assert none == JobChange("j1", JobStatus.SUCCEEDED, 1, 10.25, 11.5, None)


def test_a_notice_that_is_not_signed_with_the_key_is_not_believed() -> None:
    # Any role that can connect can NOTIFY: a forged notice (or one altered, or
    # signed with another schema's key) only makes its followers read the row.
    payload = state_notice(_state_row("succeeded", "real"), KEY)
    assert parse_state_payloads([payload], NoticeKey(b"other" * 8)) == ["j1"]
    forged = payload.replace(":10.25:", ":10.5:")
    assert parse_state_payloads([forged], KEY) == ["j1"]
    unsigned = payload.rpartition(":")[0]
    assert parse_state_payloads([unsigned], KEY) == ["j1"]


def test_an_attempt_started_is_told_in_its_notification() -> None:
    # As the claim's SQL writes it: the id, ",~r:" || attempts || started_suffix(now), a tag.
    payload = KEY.signed(f"j1,~r:3{started_suffix(1712345678.123456)}")
    assert parse_state_payloads([payload], KEY) == [
        JobChange("j1", JobStatus.RUNNING, 3, 1712345678.123456)
    ]


@pytest.mark.parametrize(
    "row",
    [
        _state_row("succeeded", "x" * (NOTICE_RESULT_BYTES + 1)),  # too big: read it
        _state_row("succeeded", 1, progress=(1, 2)),  # progress to show: read it
        _state_row("failed"),
        _state_row("retrying"),
        _state_row("cancelled"),
    ],
)
def test_any_other_change_sends_the_id_alone_for_its_followers_to_read(
    row: tuple[object, ...],
) -> None:
    assert state_notice(row, KEY) == "j1"
    assert parse_state_payloads([state_notice(row, KEY)], KEY) == ["j1"]


def test_ids_without_a_notice_and_notices_of_a_later_version_are_read() -> None:
    # An older writer sends ids alone (progress: many at once); a notice this
    # version cannot read leaves its id to be read.
    later = [KEY.signed("c,~z:1:2"), KEY.signed("d,~r:x:1.0"), KEY.signed("e,~s:1:None:2.0:@@")]
    payloads = ["a,b", *later, ",f,"]
    assert parse_state_payloads(payloads, KEY) == ["a", "b", "c", "d", "e", "f"]


async def test_a_claim_tells_nobody_and_the_started_notices_are_signed_as_the_store_checks(
    postgres_url: str,
) -> None:
    # The claim's commit notifies nobody; `tell_started` tells the attempts later,
    # many to a payload, signed as the followers check them.
    store = PostgresStore(postgres_url)
    listener = await _listening(postgres_url, f"actorlib_state.{schema_of(postgres_url)}")
    await store.open("owner")
    try:
        jobs = [record(store.now) for _ in range(120)]  # more than one payload holds
        await store.add_many(jobs)
        claimed = await store.claim("owner", len(jobs), lease=30)
        await sql(
            postgres_url, f"SELECT pg_notify('actorlib_state.{schema_of(postgres_url)}', 'x')"
        )
        assert await _heard(listener) == ["x"]  # nothing came before it
        await store.tell_started(claimed)
        told: list[str | JobChange] = []
        while len(told) < len(claimed):
            told += parse_state_payloads(await _heard(listener), store._key)
        assert told == [JobChange(j.id, JobStatus.RUNNING, 1, j.started_at) for j in claimed]
    finally:
        await store.close()
        await listener.close()


async def test_outcomes_of_more_jobs_than_one_statement_saves_are_all_saved_and_told(
    postgres_url: str,
) -> None:
    # One statement saves up to _ROWS_PER_SAVE outcomes; more take several, each
    # outcome saved once and told once, the small results in their notices.
    from actorlib.jobs._postgres_sql import ROWS_PER_SAVE

    count = ROWS_PER_SAVE + 3
    store = PostgresStore(postgres_url)
    listener = await _listening(postgres_url, f"actorlib_state.{schema_of(postgres_url)}")
    await store.open("owner")
    try:
        await store.add_many([record(store.now) for _ in range(count)])
        claimed = await store.claim("owner", count, lease=30)
        done = [
            attrs.evolve(job, status=JobStatus.SUCCEEDED, result=job.id, finished_at=store.now())
            for job in claimed
        ]
        assert await store.save_many(done) == []
        told: list[tuple[str, object]] = []
        while len(told) < count:  # after the claim's notices (RUNNING)
            changes = parse_state_payloads(await _heard(listener), store._key)
            told += [
                (c.job_id, c.result)
                for c in changes
                if isinstance(c, JobChange) and c.status is JobStatus.SUCCEEDED
            ]
        assert sorted(told) == sorted((job.id, job.id) for job in claimed)
        found = await store.get_many([job.id for job in claimed])
        assert {(job.status, job.result == job.id) for job in found} == {
            (JobStatus.SUCCEEDED, True)
        }
    finally:
        await store.close()
        await listener.close()


async def test_a_notification_that_comes_with_a_statements_results_reaches_the_next_wait(
    postgres_url: str,
) -> None:
    # The listening session's own statement brings the notification back with its
    # results (psycopg's notify handler), not on the socket the next wait reads.
    from actorlib.jobs._postgres_link import Statement

    link = await _listening(postgres_url, "with_results_test")
    try:
        await link.run(
            _statement(Statement("SELECT pg_notify('with_results_test', 'mine')")), atomic=False
        )
        assert await _heard(link) == ["mine"]
        await sql(postgres_url, "SELECT pg_notify('with_results_test', 'theirs')")
        assert await _heard(link) == ["theirs"]
    finally:
        await link.close()


def _statement(statement: Any) -> Any:
    yield statement


async def test_a_watch_that_follow_interrupts_hears_both_channels_after_and_misses_nothing(
    postgres_url: str,
) -> None:
    # `follow` takes the listening session from the watch to LISTEN; the watch then
    # waits again, hearing both channels, with what came meanwhile kept.
    from actorlib.testing._quiescence import wait_all_tasks_blocked

    schema = schema_of(postgres_url)
    store = PostgresStore(postgres_url)
    await store.open("owner")
    wakes: list[None] = []
    changes: list[str | JobChange] = []
    news = anyio.Event()

    def wake() -> None:
        wakes.append(None)
        news.set()

    def changed(told: list[str | JobChange]) -> None:
        changes.extend(told)
        news.set()

    async def heard(until: Callable[[], bool]) -> None:
        nonlocal news
        with anyio.fail_after(5):
            while not until():
                news = anyio.Event()
                await news.wait()

    try:
        async with anyio.create_task_group() as tasks_:
            tasks_.start_soon(store.watch, wake, changed)
            await heard(lambda: len(wakes) == 1)  # the first watch wakes at once
            await wait_all_tasks_blocked()
            await sql(postgres_url, f"SELECT pg_notify('actorlib_jobs.{schema}', '')")
            await heard(lambda: len(wakes) == 2)
            await store.get("nobody")  # follows: LISTENs on the state channel
            await sql(
                postgres_url,
                f"SELECT pg_notify('actorlib_state.{schema}', 'j1'), "
                f"pg_notify('actorlib_jobs.{schema}', '')",
            )
            await heard(lambda: len(wakes) == 3 and changes == ["j1"])
            tasks_.cancel_scope.cancel()
        assert await store.listening_channels() == {
            f"actorlib_jobs.{schema}",
            f"actorlib_state.{schema}",
        }
    finally:
        await store.close()


async def _listening(url: str, channel: str) -> Any:
    from actorlib.jobs._postgres_link import Statement, connect

    return await connect(url.partition("?")[0], [Statement(f'LISTEN "{channel}"')])


async def _heard(link: Any) -> list[str]:
    with anyio.fail_after(5):
        return [notice.payload for notice in await link.wait_notifies()]


def test_a_change_told_late_never_moves_a_job_back() -> None:
    info = JobInfo("j1", "f", JobStatus.RETRYING, 0, None, 1, 3, None, None, None, 1.0, 2.0, None)
    assert not JobChange("j1", JobStatus.RUNNING, 1, 2.0).newer_than(info)
    assert JobChange("j1", JobStatus.RUNNING, 2, 4.0).newer_than(info)
    assert JobChange("j1", JobStatus.SUCCEEDED, 1, 2.0, 3.0).newer_than(
        JobChange("j1", JobStatus.RUNNING, 1, 2.0).applied_to(info)
    )


def test_a_store_url_names_its_schema_and_never_shows_its_password() -> None:
    store = PostgresStore("postgres://app:secret@db.example:5433/jobs?schema=orders&sslmode=off")
    assert store.schema == "orders"
    assert store.url == "postgres://app:***@db.example:5433/jobs"
    assert "secret" not in repr(store)
    assert PostgresStore("postgresql://app@db/jobs").schema == "actorlib"
    assert PostgresStore("postgresql://app@db/jobs?schema=a", schema="b").schema == "b"


async def test_a_read_only_store_reads_and_the_server_refuses_its_writes(
    postgres_url: str,
) -> None:
    import psycopg

    writer = PostgresStore(postgres_url)
    await writer.open("writer")
    try:
        await writer.add(record(writer.now))
    finally:
        await writer.close()
    reader = PostgresStore(postgres_url, read_only=True)
    await reader.open("reader")
    try:
        assert (await reader.counts())[JobStatus.QUEUED] == 1
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            await reader.add(record(reader.now))
        assert (await reader.counts())[JobStatus.QUEUED] == 1
    finally:
        await reader.close()


async def test_a_read_only_store_is_refused_a_schema_without_a_store_or_an_older_one(
    postgres_url: str,
) -> None:
    schema = postgres_url.rpartition("?schema=")[2]
    with pytest.raises(FileNotFoundError, match=rf"no job store at .* in schema '{schema}'"):
        await PostgresStore(postgres_url, read_only=True).open("reader")
    assert await sql(postgres_url, f"SELECT to_regnamespace('{schema}')") == [(None,)]
    await sql(postgres_url, f"CREATE SCHEMA {schema}")
    await sql(postgres_url, f"CREATE TABLE {schema}.schema_version (version integer)")
    await sql(postgres_url, f"INSERT INTO {schema}.schema_version VALUES (1)")
    with pytest.raises(RuntimeError, match="has schema version 1, older than this actorlib's"):
        await PostgresStore(postgres_url, read_only=True).open("reader")


def test_a_url_without_a_host_keeps_its_three_slashes_for_libpq() -> None:
    # ``postgresql:///db`` (libpq's default socket, or ``?host=/dir``) has an empty
    # host: rebuilt by urllib, it lost a slash and libpq refused the URL.
    import psycopg.conninfo

    conninfo, shown, schema = parse_url("postgresql:///jobs?host=/run/pg&schema=a", None)
    assert psycopg.conninfo.conninfo_to_dict(conninfo)["host"] == "/run/pg"
    assert psycopg.conninfo.conninfo_to_dict(conninfo)["dbname"] == "jobs"
    assert (shown, schema) == ("postgresql:///jobs", "a")
    assert PostgresStore("postgres://app:pw@/jobs").url == "postgres://app:***@/jobs"


async def test_a_store_opens_through_a_unix_socket_named_by_a_url_without_a_host(
    postgres_instance: PostgresInstance,
) -> None:
    url = (
        f"postgresql:///postgres?host={postgres_instance.directory}"
        f"&port={postgres_instance.port}&user=postgres&schema=socket"
    )
    store = PostgresStore(url)
    await store.open("socket")
    try:
        await store.add(record(store.now))
        assert (await store.counts())[JobStatus.QUEUED] == 1
    finally:
        await store.close()


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


async def held_back_until_commit(
    url: str,
    statements: list[tuple[str, tuple[object, ...]]],
    call: Callable[[], Awaitable[object]],
) -> None:
    """Run *statements* in another session's open transaction, then *call*: it must
    wait for that transaction (a row lock), and end once it commits.

    (A blocking connection in a thread: psycopg's async one does not run on trio.)
    """
    import psycopg

    conninfo = url.partition("?")[0]
    other: psycopg.Connection[tuple[object, ...]] = await anyio.to_thread.run_sync(
        lambda: psycopg.connect(conninfo)
    )
    try:
        for statement, params in statements:
            await anyio.to_thread.run_sync(other.execute, statement, params)
        done = anyio.Event()

        async def run() -> None:
            await call()
            done.set()

        async with anyio.create_task_group() as tasks_:
            tasks_.start_soon(run)
            with anyio.move_on_after(0.3):
                await done.wait()
            assert not done.is_set(), "the call did not wait for the other transaction"
            await anyio.to_thread.run_sync(other.commit)
            await done.wait()
    finally:
        await anyio.to_thread.run_sync(other.close)


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


async def test_jobs_a_queue_releases_by_ending_their_prerequisite_start_at_once(
    postgres_url: str,
) -> None:
    # The queue does not look for due jobs after each job it ends: the commit
    # that released the next link of the chain wakes it, its own included.
    async with (
        ActorSystem("jobs") as system,
        JobQueue(system, store=postgres_url, poll_interval=3600, lease=7200) as queue,
    ):
        gate = tasks.GATES["chain"] = tasks.Gate()
        first = await queue.submit(tasks.gated, "chain", 1)
        second = await queue.submit(tasks.add, 2, 2, after=[first])
        third = await queue.submit(tasks.add, 3, 3, after=[second])
        with anyio.fail_after(10):
            await gate.started.wait()  # every submit is in: only a wake-up starts the rest
            gate.opened.set()
            assert await third.result() == 6
        assert await second.result() == 4


async def test_a_claim_commits_without_waiting_for_the_flush_and_nothing_after_it_does(
    postgres_url: str,
) -> None:
    # The claim turns synchronous_commit off for its own transaction: the next
    # statement on the same connection (an outcome) waits for the flush again.
    from actorlib.jobs._postgres_link import one as _one

    store = PostgresStore(postgres_url, connections=1)
    await store.open("owner")
    try:
        await store.add(record(store.now))
        before = await store._pool.call(_one("SHOW synchronous_commit"))
        records, _ = await store.claim_and_next_due("owner", 1, 30.0)
        after = await store._pool.call(_one("SHOW synchronous_commit"))
        assert [r.status for r in records] == [JobStatus.RUNNING]
        assert after == before  # "on" unless the server says otherwise
    finally:
        await store.close()


async def test_a_wait_for_notifications_cancelled_as_one_arrives_loses_none(
    postgres_url: str,
) -> None:
    # On trio the wait runs in a thread that cannot be interrupted: a notification
    # it takes while its caller is being cancelled must still reach someone.
    from actorlib.jobs._postgres_link import Statement, connect
    from actorlib.testing._quiescence import wait_all_tasks_blocked

    conninfo = postgres_url.partition("?")[0]
    link = await connect(conninfo, [Statement('LISTEN "lost_notice_test"')])
    try:
        seen: list[str] = []
        async with anyio.create_task_group() as tasks:
            waiting = anyio.CancelScope()

            async def wait() -> None:
                with waiting:
                    seen.extend(n.payload for n in await link.wait_notifies())

            tasks.start_soon(wait)
            await wait_all_tasks_blocked()
            waiting.cancel()  # the caller gives up while the wait is under way...
            await sql(
                postgres_url, "SELECT pg_notify('lost_notice_test', 'hello')"
            )  # ...and it comes
        if not seen:  # the cancelled wait may hand it on: then the next one has it
            with anyio.fail_after(5):
                seen.extend(n.payload for n in await link.wait_notifies())
        assert seen == ["hello"]
    finally:
        await link.close()


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


async def test_a_connection_the_server_ended_while_idle_is_replaced_before_the_next_call(
    postgres_url: str,
) -> None:
    store = PostgresStore(postgres_url, connections=1)
    await store.open("owner")
    try:
        await store.add(record(store.now))
        ((pid,),) = await sql(
            postgres_url,
            "SELECT pid FROM pg_stat_activity WHERE application_name = %s",
            f"actorlib.jobs {store.schema}",
        )
        # With a timeout, the server returns once the session has ended.
        await sql(postgres_url, "SELECT pg_terminate_backend(%s, 5000)", pid)
        assert (await store.counts())[JobStatus.QUEUED] == 1  # on a new connection
        ((again,),) = await sql(
            postgres_url,
            "SELECT pid FROM pg_stat_activity WHERE application_name = %s",
            f"actorlib.jobs {store.schema}",
        )
        assert again != pid
    finally:
        await store.close()


async def test_an_add_whose_connection_is_lost_while_it_runs_is_run_again_and_stored_once(
    postgres_url: str,
) -> None:
    # The server ends the add's session while its INSERT waits (for a table lock
    # another session holds): whether it was stored is unknown to the caller, so
    # the store runs it again on a new connection; the job's id makes that safe.
    import psycopg

    store = PostgresStore(postgres_url, connections=1)
    await store.open("owner")
    schema = store.schema
    locker = await anyio.to_thread.run_sync(lambda: psycopg.connect(postgres_url.partition("?")[0]))
    try:
        await anyio.to_thread.run_sync(locker.execute, f"LOCK TABLE {schema}.jobs IN SHARE MODE")
        job = record(store.now)
        async with anyio.create_task_group() as tasks_:
            added: list[tuple[JobRecord, bool]] = []

            async def add() -> None:
                added.append(await store.add(job))

            tasks_.start_soon(add)
            waiting = (
                "SELECT pid FROM pg_stat_activity WHERE application_name = %s "
                "AND wait_event_type = 'Lock'"
            )
            with anyio.fail_after(10):
                while not (found := await sql(postgres_url, waiting, f"actorlib.jobs {schema}")):  # noqa: ASYNC110
                    await anyio.sleep(0.01)
            ((pid,),) = found
            await sql(postgres_url, "SELECT pg_terminate_backend(%s, 5000)", pid)
            with anyio.fail_after(10):  # the add again, on a new session, waiting as well
                while await sql(postgres_url, waiting, f"actorlib.jobs {schema}") in ([], [(pid,)]):  # noqa: ASYNC110
                    await anyio.sleep(0.01)
            await anyio.to_thread.run_sync(locker.commit)
        [(stored, created)] = added
        assert created
        assert stored.id == job.id
        rows = await sql(postgres_url, f"SELECT id FROM {schema}.jobs")
        assert rows == [(job.id,)]
    finally:
        await anyio.to_thread.run_sync(locker.close)
        await store.close()


async def test_an_add_run_again_after_it_was_stored_answers_the_stored_job(
    postgres_url: str,
) -> None:
    # The other case of a lost answer: the first run committed. Running the same
    # add again (as the store does then) stores nothing more, and answers the job.
    store = PostgresStore(postgres_url)
    await store.open("owner")
    try:
        job = record(store.now)
        (first, created), (again, created_again) = (
            await store.add(job),
            await store.add(job),
        )
        assert created
        assert created_again
        assert (again.id, again.seq) == (first.id, first.seq)
        assert (await store.counts())[JobStatus.QUEUED] == 1
    finally:
        await store.close()


async def test_a_job_claimed_in_its_process_before_its_add_returns_runs_the_submitted_function(
    postgres_url: str,
) -> None:
    def local(n: int) -> int:  # a copy decoded from the store would be another object
        return n

    store = PostgresStore(postgres_url, connections=2)
    await store.open("a")
    call = store._pool.call
    claimed: list[JobRecord] = []

    async def call_then_claim(plan: Any, **options: Any) -> Any:
        # As a worker of this process on another connection (a thread on trio)
        # may: the claim runs after the add committed, before add() returns.
        result = await call(plan, **options)
        store._pool.call = call  # type: ignore[method-assign]  # once: the claim's own call is plain
        claimed.extend(await store.claim("a", 10, lease=30))
        return result

    try:
        job = record(store.now)
        job.function, job.args = local, (7,)
        store._pool.call = call_then_claim  # type: ignore[method-assign]
        await store.add(job)
        assert [c.id for c in claimed] == [job.id]
        assert claimed[0].function is local
        assert claimed[0].args == (7,)
    finally:
        store._pool.call = call  # type: ignore[method-assign]
        await store.close()


async def test_a_dependent_added_while_its_prerequisite_ends_waits_and_sees_it_ended(
    postgres_url: str,
) -> None:

    store = PostgresStore(postgres_url)
    await store.open("a")
    try:
        prerequisite = record(store.now)
        await store.add(prerequisite)
        dependent = record(store.now)
        dependent.after = (prerequisite.id,)
        table = f'"{schema_of(postgres_url)}".jobs'
        # Another process ends the prerequisite and has not committed yet: the
        # add's row lock waits for its commit.
        ended = (f"UPDATE {table} SET status = 'succeeded' WHERE id = %s", (prerequisite.id,))
        await held_back_until_commit(postgres_url, [ended], lambda: store.add(dependent))
        assert dependent.blockers == 0  # it read the committed end: nothing to wait for
        (claimed,) = await store.claim("a", 10, lease=30)
        assert claimed.id == dependent.id
    finally:
        await store.close()


async def test_a_dependent_added_while_a_save_releases_its_prerequisite_never_deadlocks(
    postgres_url: str,
) -> None:
    # Another process saves the end of `ended`, whose dependent `released` is also a
    # prerequisite of the job added here: it locks `ended` (its outcome), then
    # `released` (one blocker fewer). The add locks the prerequisites in id order,
    # `released` first: had it waited for `ended` while holding `released`, the two
    # would wait for each other until the server broke the deadlock (1 s).
    import psycopg

    store = PostgresStore(postgres_url)
    await store.open("a")
    conninfo = postgres_url.partition("?")[0]
    other: psycopg.Connection[tuple[object, ...]] = await anyio.to_thread.run_sync(
        lambda: psycopg.connect(conninfo)
    )
    try:
        first, second = sorted((record(store.now), record(store.now)), key=lambda r: r.id)
        released, ended = first, second  # released.id < ended.id
        await store.add(ended)
        await store.add(released)
        dependent = record(store.now)
        dependent.after = (released.id, ended.id)
        table = f'"{schema_of(postgres_url)}".jobs'
        saving = (f"UPDATE {table} SET status = 'succeeded' WHERE id = %s", (ended.id,))
        releasing = (f"UPDATE {table} SET blockers = blockers WHERE id = %s", (released.id,))
        await anyio.to_thread.run_sync(other.execute, *saving)
        async with anyio.create_task_group() as tasks_:
            tasks_.start_soon(store.add, dependent)
            await anyio.sleep(0.1)  # the add has met the save's lock on `ended`
            with anyio.fail_after(0.8):  # before the server's deadlock_timeout
                await anyio.to_thread.run_sync(other.execute, *releasing)
            await anyio.to_thread.run_sync(other.commit)
        assert dependent.blockers == 1  # `ended` ended; `released` still waits
    finally:
        await anyio.to_thread.run_sync(other.close)
        await store.close()


async def test_upgrading_to_version_4_counts_the_dependents_jobs_already_have(
    postgres_url: str,
) -> None:
    schema = f'"{schema_of(postgres_url)}"'
    store = PostgresStore(postgres_url)
    await store.open("a")
    try:
        prerequisite = record(store.now)
        dependent = record(store.now)
        dependent.after = (prerequisite.id,)
        await store.add_many([prerequisite, dependent])
    finally:
        await store.close()
    # Back to the schema as version 3 left it, with that edge in it.
    await sql(postgres_url, f"DROP TABLE {schema}.notice_key")
    await sql(postgres_url, f"ALTER TABLE {schema}.jobs DROP COLUMN dependents")
    await sql(postgres_url, f"DELETE FROM {schema}.schema_version WHERE version >= 4")
    store = PostgresStore(postgres_url)
    await store.open("a")
    try:
        (running,) = await store.claim("a", 10, lease=30)
        assert running.id == prerequisite.id
        running.status, running.finished_at, running.result = (
            JobStatus.SUCCEEDED,
            store.now(),
            3,
        )
        await store.save(running)
        (claimed,) = await store.claim("a", 10, lease=30)
        assert claimed.id == dependent.id
    finally:
        await store.close()


async def test_upgrading_to_version_5_makes_the_key_that_signs_notices(
    postgres_url: str,
) -> None:
    schema = f'"{schema_of(postgres_url)}"'
    store = PostgresStore(postgres_url)
    await store.open("a")
    await store.add(job := record(store.now))
    await store.close()
    # Back to the schema as version 4 left it, with a job waiting.
    await sql(postgres_url, f"DROP TABLE {schema}.notice_key")
    await sql(postgres_url, f"DELETE FROM {schema}.schema_version WHERE version = 5")
    follower = PostgresStore(postgres_url)
    worker = PostgresStore(postgres_url)
    heard: list[str | JobChange] = []
    news = anyio.Event()

    def hear(changes: list[str | JobChange]) -> None:
        heard.extend(changes)
        news.set()

    await follower.open("b")
    await worker.open("c")
    try:
        ((key,),) = await sql(postgres_url, f"SELECT key FROM {schema}.notice_key")
        assert isinstance(key, bytes)
        assert len(key) == 32
        assert await sql(postgres_url, f"SELECT count(*) FROM {schema}.notice_key") == [(1,)]
        await follower.get(job.id)  # follows: hears the state channel
        async with anyio.create_task_group() as tasks_:
            tasks_.start_soon(follower.watch, None, hear)
            (claimed,) = await worker.claim("c", 1, lease=30)
            await worker.tell_started([claimed])
            with anyio.fail_after(5):
                await news.wait()
            tasks_.cancel_scope.cancel()
        assert heard == [JobChange(job.id, JobStatus.RUNNING, 1, claimed.started_at)]
    finally:
        await worker.close()
        await follower.close()


async def test_a_job_that_gains_a_dependent_while_it_ends_releases_it(
    postgres_url: str,
) -> None:
    # An outcome of a job that never had a dependent is one statement with no
    # settling; here another process gives the job its first dependent while
    # the outcome is saved, and commits second: the outcome must see it.

    store = PostgresStore(postgres_url)
    await store.open("a")
    try:
        prerequisite, dependent = record(store.now), record(store.now)
        await store.add_many([prerequisite, dependent])
        (running,) = await store.claim("a", 1, lease=30)
        assert running.id == prerequisite.id
        table = f'"{schema_of(postgres_url)}".jobs'
        edges = f'"{schema_of(postgres_url)}".dependencies'
        running.status, running.finished_at = JobStatus.SUCCEEDED, store.now()
        running.result = 3
        # What `add(..., after=[prerequisite])` does in another process, not committed
        # yet: the row lock holds the outcome back.
        adding: list[tuple[str, tuple[object, ...]]] = [
            (f"SELECT 1 FROM {table} WHERE id = %s FOR NO KEY UPDATE", (prerequisite.id,)),
            (f"INSERT INTO {edges} VALUES (%s, %s)", (prerequisite.id, dependent.id)),
            (f"UPDATE {table} SET dependents = dependents + 1 WHERE id = %s", (running.id,)),
            (f"UPDATE {table} SET blockers = 1 WHERE id = %s", (dependent.id,)),
        ]
        await held_back_until_commit(postgres_url, adding, lambda: store.save(running))
        (claimed,) = await store.claim("a", 10, lease=30)
        assert claimed.id == dependent.id  # released by the outcome
        assert await sql(postgres_url, f"SELECT * FROM {edges}") == []
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


#: Queue options under which only a notification starts a job in time (no poll).
_AN_HOUR: dict[str, Any] = {"poll_interval": 3600, "lease": 7200}


class _CountsClaims(PostgresStore):
    """A store (as of one process) that counts its claims, and those that found nothing."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.claims = self.empty = 0

    async def claim_and_next_due(
        self, owner: str, limit: int, lease: float
    ) -> tuple[list[JobRecord], float | None]:
        records, due = await super().claim_and_next_due(owner, limit, lease)
        self.claims += 1
        self.empty += not records
        return records, due


async def test_a_new_job_is_claimed_at_once_by_one_worker_queue_not_by_every_one_notified(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Both worker queues (as two processes) hear every job submitted elsewhere.
    # Once one found nothing after a notification, it answers the next ones only
    # after a pause, by when the other has claimed them: one claim per job, not two.
    monkeypatch.setattr(_pacing, "OUTRUN_PAUSE", 1.0)  # far longer than a job here
    monkeypatch.setattr(_pacing, "OUTRUN_PAUSE_MOST", 1.0)
    jobs, hour = 20, _AN_HOUR
    stores = [_CountsClaims(postgres_url), _CountsClaims(postgres_url)]
    async with (
        ActorSystem("jobs") as system,
        JobQueue(system, store=postgres_url, workers=0, name="producer", **hour) as producer,
        JobQueue(system, store=stores[0], workers=2, name="w0", **hour),
        JobQueue(system, store=stores[1], workers=2, name="w1", **hour),
    ):
        with anyio.fail_after(20):
            # The first job's notice: whoever claims second finds nothing.
            assert await (await producer.submit(tasks.add, 0, 0)).result() == 0
            before = sum(store.claims for store in stores)
            for n in range(1, jobs + 1):
                assert await (await producer.submit(tasks.add, n, n)).result() == 2 * n
        claims = sum(store.claims for store in stores) - before
    # One claim per job, plus a late look by the outrun queue when its pause ends
    # (and, if that look races the other's claim, the loser's look again at the
    # job the winner held): not two per job, as when both answer every notice.
    assert jobs <= claims < 1.5 * jobs, [(s.claims, s.empty) for s in stores]


async def test_a_job_the_queue_taking_jobs_is_too_busy_for_is_claimed_by_an_outrun_one(
    postgres_url: str,
) -> None:
    # Each queue runs one job at a time: the one running the gated job cannot claim
    # the next, so the other (outrun or not) takes it after its pause at the latest.
    gate = tasks.GATES["busy"] = tasks.Gate()
    hour = _AN_HOUR
    async with (
        ActorSystem("jobs") as system,
        JobQueue(system, store=postgres_url, workers=0, name="producer", **hour) as producer,
        JobQueue(system, store=postgres_url, workers=1, name="w0", **hour),
        JobQueue(system, store=postgres_url, workers=1, name="w1", **hour),
    ):
        held = await producer.submit(tasks.gated, "busy", 1)
        with anyio.fail_after(10):
            await gate.started.wait()
            for n in range(3):
                assert await (await producer.submit(tasks.add, n, n)).result() == 2 * n
        assert not held.done()
        gate.opened.set()
        with anyio.fail_after(10):
            assert await held.result() == 10


async def test_the_idle_check_in_one_round_trip_answers_as_its_two_queries(
    postgres_url: str,
) -> None:
    store = PostgresStore(postgres_url)
    await store.open("owner")
    try:
        assert await store.next_due_and_running() == (None, 0)
        later = record(store.now, delay=3600)
        await store.add(later)
        await store.add(record(store.now))
        await store.claim("owner", 1, lease=30)
        both = await store.next_due_and_running()
        assert both == (await store.next_due(), await store.running())
        assert both == (later.run_at, 1)
    finally:
        await store.close()
