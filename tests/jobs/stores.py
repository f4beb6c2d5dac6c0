"""The job stores the conformance tests run on: memory, SQLite and PostgreSQL, made alike."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path

import attrs
import pytest

from actorlib.jobs import JobRecord, JobStore, MemoryStore, PostgresStore, Retry, SqliteStore
from tests.jobs import tasks

KINDS = ("memory", "sqlite", "postgres")
DURABLE_KINDS = ("sqlite", "postgres")


class FakeClock:
    """Wall-clock seconds that move only when a test says so."""

    def __init__(self) -> None:
        self.time = time.time()

    def __call__(self) -> float:
        return self.time

    def advance(self, seconds: float) -> None:
        self.time += seconds


class ClockedSqliteStore(SqliteStore):
    """The SQLite store on a clock of the test's choosing (its own is time.time)."""

    def __init__(self, path: str, clock: Callable[[], float]) -> None:
        super().__init__(path)
        self.clock = clock

    def now(self) -> float:
        return self.clock()


@attrs.frozen
class Kind:
    """One kind of store, on data of its own for one test.

    Attributes:
        name: memory, sqlite or postgres.
        url: the store URL a `JobQueue` takes.
        durable: whether a second store object sees the first one's jobs.
    """

    name: str
    url: str

    @property
    def durable(self) -> bool:
        return self.name != "memory"

    def store(self, clock: Callable[[], float] = time.time) -> JobStore:
        """A new store object on this test's data (memory: on data of its own)."""
        if self.name == "memory":
            return MemoryStore(clock)
        if self.name == "sqlite":
            return ClockedSqliteStore(self.url.removeprefix("sqlite:///"), clock)
        return PostgresStore(self.url, clock=clock)


def make_kind(name: str, request: pytest.FixtureRequest, tmp_path: Path) -> Kind:
    """The kind *name* for one test (postgres: a schema of its own in the run's database)."""
    if name == "memory":
        return Kind(name, "memory")
    if name == "sqlite":
        return Kind(name, f"sqlite:///{tmp_path / 'jobs.db'}")
    return Kind(name, str(request.getfixturevalue("postgres_url")))


def record(
    clock: Callable[[], float],
    *,
    priority: int = 0,
    delay: float = 0.0,
    key: str | None = None,
    attempts: int = 1,
) -> JobRecord:
    """A new job of `tasks.add`, as `JobQueue.submit` makes it."""
    now = clock()
    return JobRecord(
        id=uuid.uuid4().hex,
        name="tests.jobs.tasks.add",
        function=tasks.add,
        args=(1, 2),
        kwargs={},
        executor="async",
        priority=priority,
        timeout=None,
        retry=Retry(attempts),
        key=key,
        created_at=now,
        run_at=now + delay,
    )
