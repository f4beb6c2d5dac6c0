"""Enqueueing the ticks of a queue's periodic jobs in its store; knows no actors or timers."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from ._core import QueueCore
from ._events import JobQueued
from ._periodic import tick_key
from ._tracing import tick_traced

if TYPE_CHECKING:
    from actorlib._hooks import Tracing

logger = logging.getLogger("actorlib")


async def enqueue_tick(core: QueueCore, name: str, tracing: Tracing | None) -> float | None:
    """Enqueue the schedule's latest tick at or before now, keyed by the tick; return
    the seconds until its next tick (None: no such schedule, or the queue closes).

    Every queue on the store that runs the schedule enqueues the same key,
    so the store keeps one job per tick; ticks missed while no queue ran
    collapse into this one. Then sleep until the next tick (recomputed
    each time, so a late or early timer corrects itself).
    """
    store = core.store
    entry = core.periodics.get(name)
    if entry is None or core.closing:
        return None
    now = store.now()
    try:
        record = entry.make(tick_key(name, entry.schedule.latest(now)))
        if tracing is None:
            record, created = await store.add(record)
        else:
            record, created = await tick_traced(tracing, core.name, name, store, record)
    except Exception:
        logger.exception(
            "job queue %r could not enqueue a tick of periodic job %r; trying at its next tick",
            core.name,
            name,
        )
    else:
        if created:
            core.publish(JobQueued(core.name, record.id, record.name))
            core.kick()
    delay = entry.schedule.next_after(now) - store.now()
    return max(delay, 0.0)
