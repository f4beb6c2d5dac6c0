"""The SQLite store: committed before submit returns, resumed after a restart, shared safely."""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
from pathlib import Path

import anyio
import pytest

from actorlib import ActorSystem
from actorlib.jobs import JobQueue, JobSerializationError, JobStatus, Retry
from tests.jobs import tasks

pytestmark = pytest.mark.anyio


def url(path: Path) -> str:
    return f"sqlite:///{path}"


def rows(path: Path, sql: str) -> list[tuple[object, ...]]:
    db = sqlite3.connect(path)
    try:
        return list(db.execute(sql))
    finally:
        db.close()


async def test_a_job_is_in_the_file_before_submit_returns(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    async with ActorSystem("jobs") as system, JobQueue(system, store=url(path)) as queue:
        handle = await queue.submit(tasks.add, 1, 2, delay=3600)
        # Another connection (as another process would) sees it, committed.
        assert rows(path, "SELECT id, status, name FROM jobs") == [
            (handle.id, "queued", "tests.jobs.tasks.add")
        ]
        await queue.close(cancel_pending=False)


async def test_waiting_jobs_survive_a_close_and_run_when_the_store_reopens(
    tmp_path: Path,
) -> None:
    path = tmp_path / "jobs.db"
    async with ActorSystem("first") as system, JobQueue(system, store=url(path)) as queue:
        ids = [(await queue.submit(tasks.add, i, 1, delay=0.2)).id for i in range(5)]
    assert [s for (s,) in rows(path, "SELECT status FROM jobs")] == ["queued"] * 5
    async with ActorSystem("second") as system, JobQueue(system, store=url(path)) as queue:
        handles = [await queue.get(job_id) for job_id in ids]
        results = [await h.result() for h in handles if h is not None]
        assert results == [1, 2, 3, 4, 5]


async def test_a_kept_result_answers_its_key_after_a_restart_without_running_again(
    tmp_path: Path,
) -> None:
    path = tmp_path / "jobs.db"
    async with ActorSystem("first") as system, JobQueue(system, store=url(path)) as queue:
        first = await queue.submit(tasks.multiply, 6, 7, key="answer")
        assert await first.result() == 42
    async with ActorSystem("second") as system, JobQueue(system, store=url(path)) as queue:
        again = await queue.submit(tasks.multiply, 0, 0, key="answer")
        assert again.id == first.id
        assert again.status() is JobStatus.SUCCEEDED
        assert await again.result() == 42
        assert len(rows(path, "SELECT id FROM jobs")) == 1


async def test_jobs_left_running_by_a_dead_process_run_again_at_once_when_alone(
    tmp_path: Path,
) -> None:
    path = tmp_path / "jobs.db"
    async with ActorSystem("first") as system, JobQueue(system, store=url(path)) as queue:
        handle = await queue.submit(tasks.add, 20, 22, delay=3600)
    # As a process killed mid-job leaves it: running, owned, with a long lease.
    db = sqlite3.connect(path, isolation_level=None)
    db.execute(
        "UPDATE jobs SET status='running', attempts=1, owner='dead', lease_until=1e12, run_at=0"
    )
    db.close()
    async with ActorSystem("second") as system, JobQueue(system, store=url(path)) as queue:
        again = await queue.get(handle.id)
        assert again is not None
        assert await again.result() == 42
        assert again.info().attempts == 1  # the interrupted attempt does not count


async def test_with_another_process_on_the_store_running_jobs_wait_for_their_lease(
    tmp_path: Path,
) -> None:
    path = tmp_path / "jobs.db"
    async with ActorSystem("first") as system, JobQueue(system, store=url(path)) as queue:
        live = await queue.submit(tasks.add, 1, 1, delay=3600)
        expired = await queue.submit(tasks.add, 2, 2, delay=3600)
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("UPDATE jobs SET status='running', owner='other', lease_until=1e12, run_at=0")
    db.execute("UPDATE jobs SET lease_until=1 WHERE id=?", (expired.id,))
    db.close()
    # Another process has the store open: it holds the shared open-lock.
    other = os.open(str(path) + ".lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(other, fcntl.LOCK_SH)
    try:
        async with (
            ActorSystem("second") as system,
            JobQueue(system, store=url(path), poll_interval=0.05, lease=1) as queue,
        ):
            handle = await queue.get(expired.id)
            assert handle is not None
            assert await handle.result() == 4
            live_handle = await queue.get(live.id)
            assert live_handle is not None
            assert live_handle.status() is JobStatus.RUNNING  # its owner may still be alive
    finally:
        os.close(other)


def make_effects_db(path: Path) -> None:
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("CREATE TABLE runs (key TEXT NOT NULL)")
    db.execute("CREATE TABLE results (key TEXT PRIMARY KEY)")
    db.close()


async def test_two_queues_on_one_file_share_the_work_and_never_run_a_job_twice(
    tmp_path: Path,
) -> None:
    path = tmp_path / "jobs.db"
    effects = tmp_path / "effects.db"
    make_effects_db(effects)
    async with (
        ActorSystem("shared") as system,
        JobQueue(system, store=url(path), name="a", poll_interval=0.02, lease=1) as a,
        JobQueue(system, store=url(path), name="b", poll_interval=0.02, lease=1) as b,
    ):
        handles = [
            await (a if n % 2 else b).submit(tasks.record_once, str(effects), f"k{n}")
            for n in range(60)
        ]
        assert [await h.result() for h in handles] == [f"k{n}" for n in range(60)]
    runs = sorted(str(key) for (key,) in rows(effects, "SELECT key FROM runs"))
    assert runs == sorted(f"k{n}" for n in range(60))
    owners = {owner for (owner,) in rows(path, "SELECT owner FROM jobs")}
    assert owners == {None}


async def test_closures_are_stored_by_value_and_unpicklable_ones_fail_at_submit(
    tmp_path: Path,
) -> None:
    base = 100
    async with (
        ActorSystem("jobs") as system,
        JobQueue(system, store=url(tmp_path / "jobs.db")) as queue,
    ):
        handle = await queue.submit(lambda n: base + n, 1)
        assert await handle.result() == 101
        lock = threading.Lock()
        with pytest.raises(JobSerializationError, match=r"an argument cannot be pickled"):
            await queue.submit(tasks.add, lock, 1)
        with pytest.raises(JobSerializationError, match=r"define it at module level"):
            await queue.submit(lambda: lock.locked())
        assert (await queue.statistics()).queued == 0


async def test_failures_and_dead_letters_persist_with_their_errors(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    async with ActorSystem("first") as system, JobQueue(system, store=url(path)) as queue:
        handle = await queue.submit(tasks.fail, "bad row 7", retry=Retry(1))
        with pytest.raises(ValueError, match="bad row 7"):
            await handle.result()
    async with ActorSystem("second") as system, JobQueue(system, store=url(path)) as queue:
        (dead,) = await queue.dead_letters()
        assert dead.id == handle.id
        assert isinstance(dead.error, ValueError)
        assert any(handle.id in note for note in getattr(dead.error, "__notes__", []))
        again = await queue.get(handle.id)
        assert again is not None
        with pytest.raises(ValueError, match="bad row 7"):
            await again.result()


async def test_progress_and_results_of_thread_jobs_on_sqlite(tmp_path: Path) -> None:
    async with (
        ActorSystem("jobs") as system,
        JobQueue(system, store=url(tmp_path / "jobs.db")) as queue,
    ):
        handle = await queue.submit(tasks.stepped, 3)
        updates = [p.done async for p in handle.progress()]
        assert updates == [1, 2, 3]
        assert await handle.result() == 3


@pytest.mark.parametrize(
    ("store", "error", "match"),
    [
        ("sqlite://", ValueError, r"a sqlite store URL needs a file path"),
        ("sqlite://relative.db", ValueError, r"a sqlite store URL needs a file path"),
        (
            "redis://localhost",
            ValueError,
            r"store must be 'memory', 'sqlite:///path.db' or 'postgre",
        ),
        (42, TypeError, r"or 'postgresql://user@host/db' \(or a JobStore\)"),
    ],
)
async def test_bad_store_urls_are_refused_with_the_right_spelling(
    store: object, error: type[Exception], match: str
) -> None:
    system = ActorSystem("jobs")
    with pytest.raises(error, match=match):
        JobQueue(system, store=store)  # type: ignore[arg-type]


async def test_a_store_in_a_missing_directory_is_a_clear_error(tmp_path: Path) -> None:
    async with ActorSystem("jobs") as system:
        with pytest.raises(FileNotFoundError, match=r"directory .*nowhere does not exist"):
            await JobQueue.start(system, store=url(tmp_path / "nowhere" / "jobs.db"))


async def test_waiting_on_the_memory_store_uses_no_real_time() -> None:
    # A sanity check of the fixtures above: sqlite tests use real time, so
    # keep their delays short; the memory store follows the system clock.
    with anyio.fail_after(5):
        async with ActorSystem("jobs") as system, JobQueue(system) as queue:
            assert await (await queue.submit(tasks.add, 1, 1)).result() == 2


async def test_in_the_submitting_process_a_durable_job_runs_the_very_function_submitted(
    tmp_path: Path,
) -> None:
    seen: list[int] = []  # a copy decoded from the file would append to its own list

    def remember(n: int) -> None:
        seen.append(n)

    async with (
        ActorSystem("jobs") as system,
        JobQueue(system, store=url(tmp_path / "jobs.db")) as queue,
    ):
        await (await queue.submit(remember, 7)).result()
    assert seen == [7]


async def test_submit_many_commits_the_batch_at_once_or_not_at_all(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    async with ActorSystem("jobs") as system, JobQueue(system, store=url(path)) as queue:
        lock = threading.Lock()
        with pytest.raises(JobSerializationError):
            await queue.submit_many(tasks.add, [(1, 1), (lock, 1)], delay=3600)
        assert rows(path, "SELECT COUNT(*) FROM jobs") == [(0,)]
        handles = await queue.submit_many(tasks.add, [(n, 1) for n in range(100)], delay=0.1)
        assert rows(path, "SELECT COUNT(*) FROM jobs") == [(100,)]
        assert [await h.result() for h in handles] == list(range(1, 101))
