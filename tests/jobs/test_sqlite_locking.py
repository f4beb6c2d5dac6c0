"""The SQLite store runs calls on the event loop only when they need not wait for a lock."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import anyio
import pytest

from actorlib import ActorSystem
from actorlib.jobs import JobQueue
from tests.jobs import tasks

pytestmark = pytest.mark.anyio


async def test_a_submit_waits_for_another_process_holding_the_write_lock(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    async with ActorSystem("jobs") as system, JobQueue(system, store=f"sqlite:///{path}") as queue:
        other = sqlite3.connect(path, isolation_level=None)  # as another process would
        other.execute("BEGIN IMMEDIATE")
        submitted = anyio.Event()

        async def submit() -> None:
            handle = await queue.submit(tasks.add, 1, 2)
            submitted.set()
            assert await handle.result() == 3

        async with anyio.create_task_group() as tg:
            tg.start_soon(submit)
            await anyio.wait_all_tasks_blocked()
            # The insert found the lock taken and waits for it in a worker thread.
            assert not submitted.is_set()
            other.execute("COMMIT")
        other.close()
        assert submitted.is_set()


async def test_a_cancelled_submit_that_found_the_lock_taken_adds_nothing(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    async with ActorSystem("jobs") as system, JobQueue(system, store=f"sqlite:///{path}") as queue:
        with anyio.CancelScope() as scope:
            scope.cancel()
            await queue.submit(tasks.add, 1, 2)
        assert scope.cancelled_caught
        assert (await queue.counts()).queued == 0
