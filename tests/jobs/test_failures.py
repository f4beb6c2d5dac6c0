"""Jobs that fail in unusual ways: BaseExceptions, sys.exit, a killed process, an unguarded script.

Whatever a job does, it fails that job only: the queue, its workers, the
process pool and the actor system carry on.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import traceback
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import anyio
import pytest

from actorlib import ActorSystem, Backoff
from actorlib.jobs import JobExitError, JobLostError, JobQueue, JobStatus, JobTimeoutError, Retry
from tests.jobs import tasks

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def queue() -> AsyncIterator[JobQueue]:
    async with ActorSystem("jobs") as system, JobQueue(system, workers=2) as queue:
        yield queue


@pytest.mark.parametrize(
    ("function", "executor"),
    [(tasks.halt_async, None), (tasks.halt_sync, "thread"), (tasks.halt_sync, "process")],
    ids=["loop", "thread", "process"],
)
async def test_a_job_raising_a_base_exception_subclass_fails_and_the_queue_carries_on(
    queue: JobQueue, function: Callable[[str], object], executor: str | None
) -> None:
    with anyio.fail_after(30):  # before the fix, the job stayed running
        handle = await queue.submit(function, "stop here", executor=executor)
        with pytest.raises(tasks.Halt, match="stop here"):
            await handle.result()
        assert handle.status() is JobStatus.FAILED
        assert [info.id for info in await queue.dead_letters()] == [handle.id]
        assert await (await queue.submit(tasks.multiply, 6, 7, executor=executor)).result() == 42


@pytest.mark.parametrize(
    ("function", "executor", "error"),
    [
        (tasks.interrupt_sync, "thread", KeyboardInterrupt),
        (tasks.interrupt_sync, "process", KeyboardInterrupt),
        (tasks.generator_exit_async, None, GeneratorExit),
    ],
    ids=["keyboard-interrupt-thread", "keyboard-interrupt-process", "generator-exit-loop"],
)
async def test_keyboard_interrupt_off_the_loop_and_generator_exit_fail_only_the_job(
    queue: JobQueue,
    function: Callable[[], object],
    executor: str | None,
    error: type[BaseException],
) -> None:
    with anyio.fail_after(30):
        handle = await queue.submit(function, executor=executor)
        with pytest.raises(error):
            await handle.result()
        assert handle.status() is JobStatus.FAILED
        assert await (await queue.submit(tasks.add, 2, 3)).result() == 5


async def test_a_base_exception_is_retried_when_retry_on_names_it(queue: JobQueue) -> None:
    runs: list[int] = []

    async def halts_once() -> str:
        runs.append(len(runs) + 1)
        if len(runs) == 1:
            raise tasks.Halt("first run")
        return "second run"

    with anyio.fail_after(30):
        retry = Retry(2, Backoff(min=0.0, max=0.0), retry_on=(tasks.Halt,))
        assert await (await queue.submit(halts_once, retry=retry)).result() == "second run"
        # The default retry_on is (Exception,): a BaseException is not retried.
        not_named = await queue.submit(tasks.halt_async, "once", retry=Retry(2))
        with pytest.raises(tasks.Halt):
            await not_named.result()
        assert not_named.info().attempts == 1


async def test_a_job_raising_a_base_exception_when_timed_out_fails_with_its_timeout(
    queue: JobQueue,
) -> None:
    async def stubborn() -> None:
        try:
            await anyio.sleep_forever()
        finally:
            raise tasks.Halt("swallowing the cancellation")

    with anyio.fail_after(30):
        handle = await queue.submit(stubborn, timeout=0.01)
        with pytest.raises(JobTimeoutError, match=r"ran longer than its timeout") as caught:
            await handle.result()
        assert isinstance(caught.value.__cause__, tasks.Halt)


async def test_after_a_process_job_calls_sys_exit_the_next_process_job_runs(
    queue: JobQueue,
) -> None:
    with anyio.fail_after(30):
        exited = await queue.submit(tasks.exit_sync, 3, executor="process")
        with pytest.raises(JobExitError, match=r"called sys\.exit\(3\)"):
            await exited.result()
        for _ in range(3):  # whichever process the pool hands out
            handle = await queue.submit(tasks.multiply, 2, 3, executor="process")
            assert await handle.result() == 6


async def test_a_process_job_that_kills_its_process_is_lost_and_retried_alone(
    queue: JobQueue,
) -> None:
    with anyio.fail_after(60):
        retry = Retry(2, Backoff(min=0.0, max=0.0))
        killed = await queue.submit(tasks.kill_own_process, executor="process", retry=retry)
        others = [await queue.submit(tasks.multiply, i, 2, executor="process") for i in range(4)]
        with pytest.raises(JobLostError, match=r"its worker process died while running it"):
            await killed.result()
        assert killed.info().attempts == 2  # retried once, lost again
        assert [await handle.result() for handle in others] == [0, 2, 4, 6]
        after = await queue.submit(tasks.multiply, 5, 5, executor="process")
        assert await after.result() == 25


UNGUARDED_SCRIPT = """
    import actorlib
    from actorlib import ActorSystem
    from actorlib.jobs import JobQueue
    from tests.jobs import tasks


    async def main() -> None:
        async with ActorSystem("script") as system, JobQueue(system) as queue:
            handle = await queue.submit(tasks.multiply, 2, 3, executor="process")
            try:
                print("result", await handle.result())
            except Exception as error:
                print(f"{type(error).__name__}: {error}")


    actorlib.run(main, backend=BACKEND)  # no `if __name__ == "__main__":`
"""


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_a_process_job_from_a_script_without_a_main_guard_says_how_to_guard_it(
    tmp_path: Path, backend: str
) -> None:
    script = tmp_path / "unguarded.py"
    script.write_text(textwrap.dedent(UNGUARDED_SCRIPT.replace("BACKEND", repr(backend))))
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("JobMainGuardError: "), done.stdout
    assert f"ran the main script {str(script)!r} again" in done.stdout
    assert 'guard the script\'s entry point with `if __name__ == "__main__":`' in done.stdout
    assert "or define the job functions in a module the script imports" in done.stdout


async def test_awaiting_a_failed_job_again_raises_it_with_the_same_traceback() -> None:
    # One exception object is raised by every result(): without care, each
    # raise would prepend the awaiter's frames and the traceback would grow.
    async with ActorSystem("jobs") as system, JobQueue(system) as queue:
        handle = await queue.submit(tasks.fail, "boom")
        depths = []
        for _ in range(3):
            with pytest.raises(ValueError, match="boom") as caught:
                await handle.result()
            depths.append(len(traceback.extract_tb(caught.value.__traceback__)))
    assert depths[0] == depths[1] == depths[2]
