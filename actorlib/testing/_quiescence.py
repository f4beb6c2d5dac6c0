"""Waiting until every other task is blocked, fast enough to step a simulation."""

from __future__ import annotations

import asyncio
import weakref

# Tasks inside wait_all_tasks_blocked: they only yield to let others run, so
# two of them (two simulated systems in one loop) must count each other as
# blocked, or each would wait for the other for ever.
_waiting: weakref.WeakSet[asyncio.Task[object]] = weakref.WeakSet()


def _on_asyncio() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


async def wait_all_tasks_blocked() -> None:
    """Return once every other task is waiting for something.

    On trio this is trio's own scheduler-level check. On asyncio, anyio's
    version sleeps 0.1 s whenever a task is still runnable, which would make
    each simulated delivery cost a tenth of a second; here we yield one loop
    turn at a time until nothing else is runnable.
    """
    if not _on_asyncio():
        import trio.testing

        await trio.testing.wait_all_tasks_blocked()
        return
    this = asyncio.current_task()
    assert this is not None
    _waiting.add(this)
    try:
        ready = getattr(asyncio.get_running_loop(), "_ready", None)
        if ready is not None:
            await _until_ready_queue_empty(ready)
        else:  # pragma: no cover - loops without a ready queue (uvloop)
            await _until_no_task_runnable(this)
    finally:
        _waiting.discard(this)


async def _until_ready_queue_empty(ready: object) -> None:
    # asyncio's default loops keep their runnable callbacks in `_ready`. Right
    # after we resume from sleep(0), anything still in it is another task's
    # step, except the resumptions of other waiters (one each): when only
    # those are left, every other task is blocked. Checking the queue costs
    # nothing, while asyncio.all_tasks() scans a process-wide set whose table
    # never shrinks (48 µs a call after a burst of 20,000 tasks).
    while True:
        await asyncio.sleep(0)
        if len(ready) <= len(_waiting) - 1:  # type: ignore[arg-type]
            return


async def _until_no_task_runnable(this: asyncio.Task[object]) -> None:
    while True:
        await asyncio.sleep(0)
        for task in asyncio.all_tasks():
            if task is this or task in _waiting:
                continue
            waiter = task._fut_waiter  # type: ignore[attr-defined]
            if waiter is None or waiter.done():
                break  # runnable: let it run, then look again
        else:
            return
