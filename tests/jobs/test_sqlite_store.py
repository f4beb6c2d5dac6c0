"""The SQLite store's own rules: its URL spelling and its file; what every store promises
is in test_store_conformance.py."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

import anyio
import pytest

from actorlib import ActorSystem
from actorlib.jobs import JobQueue, MemoryStore, SqliteStore
from actorlib.jobs._store import REQUIRED_METHODS
from tests.jobs import tasks

pytestmark = pytest.mark.anyio


def url(path: Path) -> str:
    return f"sqlite:///{path}"


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


class _OldStore:
    """A store object written against an older JobStore: it lacks the newer methods."""

    def __init__(self) -> None:
        memory = MemoryStore(lambda: 0.0)
        for name in REQUIRED_METHODS:
            if name not in ("running_jobs", "retry_failed"):
                setattr(self, name, getattr(memory, name))


async def test_a_store_object_lacking_protocol_methods_is_refused_naming_them() -> None:
    system = ActorSystem("jobs")
    with pytest.raises(TypeError, match=r"\(it lacks running_jobs, retry_failed\)"):
        JobQueue(system, store=_OldStore())  # type: ignore[arg-type]


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


async def test_a_file_of_the_first_schema_gains_the_dependency_columns_when_opened(
    tmp_path: Path,
) -> None:
    path = tmp_path / "old.db"
    store = SqliteStore(str(path))
    await store.open("a")
    await store.close()
    with contextlib.closing(sqlite3.connect(path)) as db:  # back to version 1
        db.executescript(
            "DROP TABLE dependencies; ALTER TABLE jobs DROP COLUMN blockers; "
            "PRAGMA user_version = 0;"
        )
    reader = SqliteStore(str(path), read_only=True)
    with pytest.raises(RuntimeError, match=r"schema version 0, older .* open it once read-write"):
        await reader.open("reader")
    async with ActorSystem("jobs") as system, JobQueue(system, store=f"sqlite:///{path}") as queue:
        first = await queue.submit(tasks.add, 1, 2)
        second = await queue.submit(tasks.add, 3, 4, after=[first])
        assert await second.result() == 7
    with contextlib.closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA user_version").fetchone() == (3,)
