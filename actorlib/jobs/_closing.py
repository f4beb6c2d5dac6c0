"""How an open queue closes: schedules stop, waiting jobs settle, workers drain; knows no facade."""

from __future__ import annotations

import logging

import anyio

from . import _control
from ._core import QueueCore
from ._errors import JobStoreUnavailableError
from ._scheduling import Close
from ._store import JobStore

logger = logging.getLogger("actorlib")


def check_grace(grace: float, store: JobStore) -> None:
    """Check ``close(grace=...)`` against the queue's store.

    Raises:
        ValueError: *grace* is negative or not a number, or the store is not durable.
    """
    if isinstance(grace, bool) or not isinstance(grace, int | float) or not grace >= 0:
        raise ValueError(f"grace must be a number of seconds >= 0 or None, got {grace!r}")
    if not store.durable:
        raise ValueError(
            "grace needs a durable store: the memory store has nowhere to put an "
            "interrupted job back; close() without grace waits for running jobs"
        )


async def close_open(core: QueueCore, *, cancel_pending: bool, grace: float | None) -> None:
    """Close the core of an open queue: what `JobQueue.close` does after its checks."""
    for entry in core.periodics.values():  # first: join() must not wait for ticks
        entry.cancelled = True
    core.periodics.clear()
    if cancel_pending:
        for job_id in await core.store.waiting():
            await _control.cancel(core, job_id)
    elif not core.store.durable:
        await _control.join(core)
    core.closing = True
    if core.scheduler is not None:
        core.scheduler.tell(Close())
        with anyio.CancelScope(shield=True):
            if grace is None:
                await core.drained.wait()
            else:
                await drain_within(core, grace)
            await core.system.stop(core.scheduler)
            await core.store.close()


async def drain_within(core: QueueCore, grace: float) -> None:
    """Let running jobs end for *grace* seconds; then cancel them and re-queue their jobs."""
    with anyio.CancelScope() as scope:
        timer = core.system.timer_queue.call_later(grace, scope.cancel)
        try:
            await core.drained.wait()
        finally:
            timer.cancel()
    if not scope.cancelled_caught:
        return
    core.abandoning = True
    for attempt in list(core.attempts.values()):
        attempt.cancel()
    await core.drained.wait()
    try:
        released = await core.store.release(core.owner)
    except JobStoreUnavailableError:
        logger.warning(
            "job queue %r could not put its running jobs back in the queue: its store "
            "cannot be reached; they come back once their owner is seen gone or their "
            "lease ends",
            core.name,
        )
        return
    if released:
        logger.warning(
            "job queue %r put %d running jobs back in the queue after a grace of %g s",
            core.name,
            released,
            grace,
        )
