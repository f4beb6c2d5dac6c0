"""JobQueue basics: submit returns at once; result, status, callbacks; executors; join; close."""

from __future__ import annotations

import os
import pickle
from collections.abc import AsyncIterator, Callable
from typing import Any, assert_type

import anyio
import pytest

from actorlib import ActorSystem
from actorlib.jobs import (
    JobCancelledError,
    JobCounts,
    JobExitError,
    JobHandle,
    JobQueue,
    JobQueueClosedError,
    JobQueueStatistics,
    JobSerializationError,
    JobStatus,
    current_job_id,
)
from tests.jobs import tasks

pytestmark = pytest.mark.anyio


@pytest.fixture
async def queue() -> AsyncIterator[JobQueue]:
    async with ActorSystem("jobs") as system, JobQueue(system, workers=2) as queue:
        yield queue


async def test_submit_returns_a_handle_before_the_job_runs_and_result_awaits_it(
    queue: JobQueue,
) -> None:
    gate = anyio.Event()

    async def gated() -> str:
        await gate.wait()
        return "done"

    handle = await queue.submit(gated)
    assert handle.status() in (JobStatus.QUEUED, JobStatus.RUNNING)
    assert not handle.done()
    gate.set()
    assert await handle.result() == "done"
    assert handle.status() is JobStatus.SUCCEEDED
    assert handle.done()
    assert handle.info().attempts == 1


async def test_sync_functions_run_in_a_worker_thread_not_on_the_event_loop(
    queue: JobQueue,
) -> None:
    import threading

    loop_thread = threading.get_ident()
    handle = await queue.submit(threading.get_ident)
    assert await handle.result() != loop_thread
    assert await (await queue.submit(tasks.multiply, 6, 7)).result() == 42


async def test_process_executor_runs_lambdas_and_closures_in_another_process(
    queue: JobQueue,
) -> None:
    base = 1000
    handle = await queue.submit(lambda n: (base + n, os.getpid()), 7, executor="process")
    value, pid = await handle.result()
    assert value == 1007
    assert pid != os.getpid()
    total, pid = await (await queue.submit(tasks.cpu_bound, 100, executor="process")).result()
    assert total == sum(i * i for i in range(100))


async def test_an_unpicklable_function_fails_at_submit_naming_the_function(
    queue: JobQueue,
) -> None:
    import threading

    lock = threading.Lock()  # a lock cannot leave its process

    def uses_lock() -> bool:
        return lock.locked()

    with pytest.raises(JobSerializationError, match=r"cannot pickle job .*uses_lock: .*"):
        await queue.submit(uses_lock, executor="process")
    assert (await queue.counts()).queued == 0


async def test_a_failed_job_reraises_its_own_error_with_a_note_naming_the_job(
    queue: JobQueue,
) -> None:
    handle = await queue.submit(tasks.fail, "bad input")
    with pytest.raises(ValueError, match="bad input") as caught:
        await handle.result()
    assert handle.status() is JobStatus.FAILED
    notes = getattr(caught.value, "__notes__", [])
    assert any(f"tests.jobs.tasks.fail[{handle.id}]" in note for note in notes), notes
    dead = await queue.dead_letters()
    assert [info.id for info in dead] == [handle.id]


@pytest.mark.parametrize(
    ("function", "executor"),
    [(tasks.exit_async, None), (tasks.exit_sync, "thread"), (tasks.exit_sync, "process")],
    ids=["loop", "thread", "process"],
)
async def test_a_job_calling_sys_exit_fails_and_the_queue_carries_on(
    queue: JobQueue, function: Callable[[int], object], executor: str | None
) -> None:
    handle = await queue.submit(function, 3, executor=executor)
    with pytest.raises(JobExitError, match=r"called sys\.exit\(3\); a job cannot stop") as caught:
        await handle.result()
    assert caught.value.code == 3
    assert handle.status() is JobStatus.FAILED
    assert await (await queue.submit(tasks.add, 2, 3)).result() == 5


async def test_a_handle_is_typed_by_what_its_function_returns(queue: JobQueue) -> None:
    # assert_type is checked by mypy (CI runs it on the tests), not at run time.
    added = await queue.submit(tasks.add, 2, 3)  # async def -> int: awaited
    product = await queue.submit(tasks.multiply, 2, 3)  # plain def -> int
    batch = await queue.submit_many(tasks.add, [(1, 1), (2, 2)])
    assert_type(added, JobHandle[int])
    assert_type(product, JobHandle[int])
    assert_type(batch, list[JobHandle[int]])
    total: int = await added.result()
    assert (total, await product.result()) == (5, 6)
    assert [await handle.result() for handle in batch] == [2, 4]
    found = await queue.get(added.id)
    assert found is not None
    assert_type(found, JobHandle[Any])


async def test_done_callbacks_get_the_handle_once_even_when_added_after_the_end(
    queue: JobQueue,
) -> None:
    seen: list[tuple[str, JobStatus]] = []

    def note(h: JobHandle[Any]) -> None:
        seen.append((h.id, h.status()))

    handle = await queue.submit(tasks.add, 1, 2)
    handle.add_done_callback(note)
    await handle.result()
    handle.add_done_callback(note)
    assert seen == [(handle.id, JobStatus.SUCCEEDED)] * 2


async def test_a_raising_callback_is_logged_and_the_others_still_run(
    queue: JobQueue, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[str] = []

    def broken(h: JobHandle[Any]) -> None:
        raise RuntimeError("callback bug")

    handle = await queue.submit(tasks.add, 1, 2)
    handle.add_done_callback(broken)
    handle.add_done_callback(lambda h: seen.append(h.id))
    await handle.result()
    assert seen == [handle.id]
    assert "callback bug" in caplog.text


async def test_join_waits_for_every_accepted_job(queue: JobQueue) -> None:
    handles = [await queue.submit(tasks.add, i, i) for i in range(50)]
    await queue.join()
    assert all(h.status() is JobStatus.SUCCEEDED for h in handles)
    stats = await queue.counts()
    assert (stats.succeeded, stats.queued, stats.running) == (50, 0, 0)


async def test_closing_a_memory_queue_runs_what_was_accepted_first() -> None:
    async with ActorSystem("jobs") as system:
        async with JobQueue(system, workers=1) as queue:
            handles = [await queue.submit(tasks.add, i, 1) for i in range(20)]
        assert [h.status() for h in handles] == [JobStatus.SUCCEEDED] * 20
        assert [await h.result() for h in handles] == list(range(1, 21))


async def test_close_with_cancel_pending_cancels_waiting_jobs_and_finishes_the_running_one() -> (
    None
):
    started = anyio.Event()
    release = anyio.Event()

    async def blocker() -> str:
        started.set()
        await release.wait()
        return "finished"

    async with ActorSystem("jobs") as system:
        queue = await JobQueue.start(system, workers=1)
        running = await queue.submit(blocker)
        waiting = [await queue.submit(tasks.add, i, 1) for i in range(3)]
        await started.wait()
        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: queue.close(cancel_pending=True))
            await anyio.wait_all_tasks_blocked()
            release.set()
        assert await running.result() == "finished"
        for handle in waiting:
            assert handle.status() is JobStatus.CANCELLED
            with pytest.raises(JobCancelledError):
                await handle.result()
        with pytest.raises(JobQueueClosedError, match="cannot submit a job: the job queue"):
            await queue.submit(tasks.add, 1, 1)


async def test_current_job_id_names_the_running_job(queue: JobQueue) -> None:
    async def whoami() -> str | None:
        return current_job_id()

    handle = await queue.submit(whoami)
    assert await handle.result() == handle.id
    assert current_job_id() is None


async def test_result_timeout_raises_timeout_error_and_the_job_goes_on(queue: JobQueue) -> None:
    release = anyio.Event()

    async def slow() -> int:
        await release.wait()
        return 1

    handle = await queue.submit(slow)
    with pytest.raises(TimeoutError, match=r"did not end within 0.05 s \(it is running"):
        await handle.result(timeout=0.05)
    release.set()
    assert await handle.result() == 1


async def test_the_queue_is_an_actor_in_the_system_tree() -> None:
    async with ActorSystem("jobs") as system, JobQueue(system, workers=3, name="mail"):
        tree = system.tree()
        assert "mail" in tree
        assert tree.count("worker-") == 3


async def test_shutting_the_system_down_under_an_open_queue_releases_its_waiters() -> None:
    outcomes: list[str] = []
    async with anyio.create_task_group() as tg, ActorSystem("jobs") as system:
        queue = await JobQueue.start(system, workers=1)
        waiting = await queue.submit(tasks.add, 1, 1, delay=3600)

        async def follow() -> None:
            try:
                await waiting.result()
            except JobQueueClosedError as error:
                outcomes.append(str(error))

        async def join() -> None:
            try:
                await queue.join()
            except JobQueueClosedError as error:
                outcomes.append(str(error))

        tg.start_soon(follow)
        tg.start_soon(join)
        await anyio.wait_all_tasks_blocked()
        # Leaving the system stopped the queue's actors before anyone closed it.
    assert waiting.status() is JobStatus.QUEUED
    await queue.close()  # still harmless
    assert sorted(outcomes) == [
        "cannot join the queue (its actors were stopped): the job queue is closed; use it "
        "inside `async with JobQueue(system, ...) as queue:` or after `await JobQueue.start(...)`",
        f"cannot wait for job {waiting.name}[{waiting.id}] (the queue was closed before the job "
        "ended): the job queue is closed; use it inside `async with JobQueue(system, ...) as "
        "queue:` or after `await JobQueue.start(...)`",
    ]


async def test_a_thread_job_past_its_timeout_is_abandoned_and_frees_its_worker() -> None:
    import threading

    finished = threading.Event()

    def slow_in_thread() -> str:
        finished.wait(5)  # the test lets it go only after the timeout
        tasks.stepped(1)  # reports progress after it was abandoned: ignored
        return "too late"

    async with ActorSystem("jobs") as system, JobQueue(system, workers=1) as queue:
        slow = await queue.submit(slow_in_thread, timeout=0.05)
        quick = await queue.submit(tasks.add, 2, 2)
        with pytest.raises(TimeoutError, match=r"ran longer than its timeout of 0.05 s"):
            await slow.result()
        assert await quick.result() == 4  # the only worker was freed
        finished.set()
        assert slow.info().progress is None


async def test_submit_many_queues_a_batch_in_order_with_shared_options(queue: JobQueue) -> None:
    handles = await queue.submit_many(tasks.add, [(1, 2), (3, 4), (5, 6)], priority=3)
    assert [await h.result() for h in handles] == [3, 7, 11]
    assert [h.info().priority for h in handles] == [3, 3, 3]
    assert await queue.submit_many(tasks.add, []) == []


async def test_submit_many_takes_one_key_per_job_and_honours_them(queue: JobQueue) -> None:
    first = await queue.submit(tasks.add, 0, 0, key="b")
    handles = await queue.submit_many(tasks.add, [(1, 1), (2, 2), (3, 3)], keys=["a", "b", None])
    assert handles[1].id == first.id
    assert [await h.result() for h in handles] == [2, 0, 6]


@pytest.mark.parametrize(
    ("arguments", "keys", "error", "match"),
    [
        ([(1, 2), [3, 4]], None, TypeError, r"expects a tuple of arguments per job.*got \[3, 4\]"),
        ([(1, 2)], ["a", "b"], ValueError, r"one key per job: 1 jobs, 2 keys"),
        ([(1, 2)], [""], ValueError, r"key must be a non-empty str or None, got ''"),
    ],
)
async def test_a_bad_batch_queues_none_of_its_jobs(
    queue: JobQueue,
    arguments: list[object],
    keys: list[str] | None,
    error: type[Exception],
    match: str,
) -> None:
    with pytest.raises(error, match=match):
        await queue.submit_many(tasks.add, arguments, keys=keys)  # type: ignore[arg-type]
    assert (await queue.counts()).queued == 0


async def test_statistics_is_a_sync_snapshot_and_counts_asks_the_store() -> None:
    gate = anyio.Event()

    async def gated() -> str:
        await gate.wait()
        return "done"

    async with ActorSystem("jobs") as system:
        queue = JobQueue(system, workers=3, name="stats")
        assert queue.statistics() == JobQueueStatistics(
            name="stats", state="new", workers=3, running_here=0, followed=0, idle=True
        )
        async with queue:
            handle = await queue.submit(gated)
            await (await queue.submit(tasks.add, 1, 1)).result()
            while queue.statistics().running_here == 0:  # the worker picks the job up
                await anyio.wait_all_tasks_blocked()
            stats = queue.statistics()
            assert (stats.state, stats.running_here, stats.followed, stats.idle) == (
                "open",
                1,
                1,
                False,
            )
            assert pickle.loads(pickle.dumps(stats)) == stats  # plain data
            assert await queue.counts() == JobCounts(
                queued=0, running=1, retrying=0, succeeded=1, failed=0, cancelled=0
            )
            # The API before statistics() was sync still works: the store's counts.
            legacy = await queue.statistics()  # type: ignore[misc]
            assert (legacy.running, legacy.succeeded, legacy.workers) == (1, 1, 3)
            gate.set()
            await handle.result()
            await queue.join()
            assert queue.statistics().idle
            assert (await queue.counts()).finished == 2
        assert queue.statistics().state == "closed"
        with pytest.raises(
            JobQueueClosedError, match=r"cannot count jobs: the job queue is closed"
        ):
            await queue.counts()
