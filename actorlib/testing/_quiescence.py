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
    each simulated delivery cost a tenth of a second; here we yield with
    ``sleep(0)`` (one loop turn) until no task is runnable.
    """
    if not _on_asyncio():
        import trio.testing

        await trio.testing.wait_all_tasks_blocked()
        return
    this = asyncio.current_task()
    assert this is not None
    _waiting.add(this)
    try:
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
    finally:
        _waiting.discard(this)
