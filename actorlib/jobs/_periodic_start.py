"""Starting a periodic job on an open queue: its checks, its entry, its first tick; no facade."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import _codec
from ._core import QueueCore
from ._model import JobRecord
from ._periodic import PeriodicEntry, PeriodicHandle, Schedule
from ._scheduling import PeriodicTick


async def start_periodic(
    core: QueueCore,
    name: str | None,
    schedule: Schedule,
    function: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    make: Callable[[tuple[Any, ...], dict[str, Any], str | None], JobRecord],
) -> PeriodicHandle:
    """Register a schedule with *core*, its ticks' jobs made by *make*, and enqueue its first tick.

    Raises:
        ValueError: a bad *name*, or a schedule of that name already runs on this queue.
        TypeError, JobSerializationError: as `JobQueue.submit`, for an argument.
    """
    name = _codec.qualified_name(function) if name is None else name
    if not isinstance(name, str) or not name:
        raise ValueError(f"periodic() name must be a non-empty str, got {name!r}")
    if name in core.periodics:
        raise ValueError(
            f"a periodic job named {name!r} already runs on queue {core.name!r}; "
            f"give this one another name=..., or cancel the other first"
        )
    make(args, kwargs, None)  # fail now, not at a tick, on a bad argument
    if core.store.durable:
        _codec.dumps_call(
            function,
            args,
            kwargs,
            hint="a durable store keeps each tick's job: pass plain data",
        )
    entry = PeriodicEntry(name, schedule, lambda key: make(args, kwargs, key))
    core.periodics[name] = entry

    def unregister(entry: PeriodicEntry) -> None:
        if core.periodics.get(entry.name) is entry:
            del core.periodics[entry.name]

    assert core.scheduler is not None
    await core.scheduler.ask(PeriodicTick(name), timeout=None)
    return PeriodicHandle(entry, unregister)
