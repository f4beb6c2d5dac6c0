"""How a cell acts on its system messages: stops, watches, notices, failures, directives.

The system lane is drained before any user message (DESIGN.md 1). The
transitions these messages trigger live in _lifecycle; this module only
decides which one applies, given the cell's state.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import _lifecycle as lifecycle
from ._lifecycle import State
from ._messages import (
    ChildTerminated,
    Envelope,
    Failed,
    Notice,
    Restart,
    Resume,
    Stop,
    Terminated,
    Unwatch,
    Watch,
)

if TYPE_CHECKING:
    from ._cell import Cell


async def handle(cell: Cell, message: object) -> None:
    """Act on one system message: a stop, a watch, a notice, a failure or a directive."""
    match message:
        case Stop(error=error, trace=trace):
            if cell.stop_trace is None:
                cell.stop_trace = trace
            await lifecycle.begin_stop(cell, error)
        case Terminated():
            await _on_terminated(cell, message, None)
        case Notice(terminated=notice, trace=trace):
            await _on_terminated(cell, notice, trace)
        case ChildTerminated(child=child, error=error):
            await _on_child_terminated(cell, child, error)
        case Failed(child=child, error=error, incarnation=incarnation):
            lifecycle.supervise(cell, child, error, incarnation)
        case Watch(watcher=watcher):
            if cell.watchers is None:
                cell.watchers = set()
            cell.watchers.add(watcher)
        case Unwatch(watcher=watcher):
            if cell.watchers is not None:
                cell.watchers.discard(watcher)
        case Resume(incarnation=incarnation):
            if incarnation != cell.incarnation or cell.state is not State.SUSPENDED:
                pass  # stale
            elif cell.instance is None or not cell.started:
                # It failed while starting (__init__ during a restart, or
                # on_start): there is nothing to resume, so, as in Akka,
                # RESUME becomes a restart.
                cell.restart_cause = cell.failure
                await lifecycle.recreate(cell)
            else:
                cell.state = State.RUNNING
                lifecycle.resume_escalated(cell)
        case Restart(error=error, incarnation=incarnation):
            if incarnation == cell.incarnation and not cell.closed:
                await lifecycle.begin_restart(cell, error)
        case _:  # pragma: no cover - a bug in the runtime, not a user error
            raise AssertionError(f"unknown system message {message!r}")


async def _on_terminated(cell: Cell, notice: Terminated, trace: object) -> None:
    watching = cell.watching
    if watching is None or notice.ref not in watching:
        return  # unwatched before the notice arrived: by promise, not delivered
    watching.discard(notice.ref)
    await _deliver_notice(cell, notice, trace)


async def _deliver_notice(cell: Cell, notice: Terminated, trace: object) -> None:
    """Hand a Terminated to the handler now, or keep it for after a failure.

    *trace* is the trace context of the stop that caused it (None: none).
    """
    if cell.state is State.RUNNING:
        await cell.invoke(Envelope(notice, None, None, trace))
    elif cell.closed:
        cell.system.dead_letter(notice, cell.ref, None)
    else:
        cell.mailbox.push_front_user([Envelope(notice, None, None, trace)])


async def _on_child_terminated(cell: Cell, child: Cell, error: BaseException | None) -> None:
    children = cell.children
    if children is not None and children.get(child.name) is child:
        del children[child.name]
    if cell.escalated_from is child:
        cell.escalated_from = None
    if cell.state is State.STOPPING:
        if children:
            lifecycle.stop_youngest_child(cell)
        else:
            await lifecycle.finish_stop(cell)
    elif cell.state is State.RESTARTING:
        if children:
            lifecycle.stop_youngest_child(cell)
        else:
            await lifecycle.recreate(cell)
    elif cell.parent is not None:  # the guardian has no handler to tell
        if cell.watching is not None:
            cell.watching.discard(child.ref)
        await _deliver_notice(cell, Terminated(child.ref, error), child.stop_trace)
