"""The lifecycle of a cell: its states and transitions (start, fail, restart, stop).

The child's side (what a cell does when it starts, fails, is restarted or
stops) and the parent's side (applying its strategy to a failed child) live
together here; the message loop that triggers them lives in the cell.
"""

from __future__ import annotations

import enum
import functools
import logging
from typing import TYPE_CHECKING, cast

from ._actor import Actor
from ._messages import ChildTerminated, Failed, Notice, Restart, Resume, Stop, Terminated
from ._supervision import DEFAULT_STRATEGY, Directive, RestartStats, SupervisorStrategy

if TYPE_CHECKING:
    from ._cell import Cell

logger = logging.getLogger("actorlib")


class State(enum.Enum):
    """The lifecycle of a cell."""

    STARTING = "starting"  # on_start not yet run
    RUNNING = "running"
    SUSPENDED = "suspended"  # failed; waiting for the parent's directive
    RESTARTING = "restarting"  # waiting for children to stop before a new instance
    STOPPING = "stopping"  # waiting for children to stop before on_stop
    STOPPED = "stopped"


# The hot paths compare with these: in CPython 3.11 looking up an enum member
# (State.RUNNING) costs about 60 ns, a module global about 10.
STARTING = State.STARTING
RUNNING = State.RUNNING
STOPPED = State.STOPPED


# ---------------------------------------------------------------- the child's side


async def start(cell: Cell) -> None:
    instance = cell.instance
    assert instance is not None
    try:
        if cell.restart_cause is not None:
            cause, cell.restart_cause = cell.restart_cause, None
            await instance.on_restart(cause)
        if type(instance).on_start is not Actor.on_start:
            await instance.on_start()
    except Exception as error:
        error.add_note(f"raised by on_start of actor {cell.path}")
        fail(cell, error)
        return
    cell.started = True
    cell.state = State.RUNNING


def fail(cell: Cell, error: Exception) -> None:
    """This actor failed: suspend and ask the parent for a directive."""
    cell.state = State.SUSPENDED
    cell.incarnation += 1
    cell.failure = error
    parent = cell.parent
    if parent is None:  # the guardian itself: nothing above it
        logger.error("the root guardian failed; stopping", exc_info=error)
        cell.mailbox.put_system(Stop(error))
        return
    parent.post_system(Failed(cell, error, cell.incarnation))


def resume_escalated(cell: Cell) -> None:
    child = cell.escalated_from
    if child is not None:
        cell.escalated_from = None
        child.post_system(Resume(child.incarnation))


async def begin_restart(cell: Cell, error: BaseException) -> None:
    cell.state = State.RESTARTING
    cell.incarnation += 1  # directives and failures of the old instance are stale now
    cell.restart_cause = error
    cell.escalated_from = None
    if cell.timers is not None:
        cell.timers.cancel_all()
    if cell.stash:
        cell.mailbox.push_front_user(cell.stash)
        cell.stash = None
    if cell.children:
        stop_youngest_child(cell)
        return  # _recreate runs when the last child has terminated
    await recreate(cell)


def stop_youngest_child(cell: Cell) -> None:
    """Stop children one at a time, youngest first (Erlang's order: a child may
    depend on its elder siblings, never on its younger ones). The next one is
    stopped when this one's ChildTerminated arrives."""
    assert cell.children
    youngest = next(reversed(cell.children.values()))
    youngest.post_system(Stop(None, cell.stop_trace))  # the parent's stop's trace, if any


async def recreate(cell: Cell) -> None:
    await run_on_stop(cell)
    try:
        cell.create_instance()
    except Exception as error:
        # The old instance is gone (its on_stop ran): nothing can be resumed.
        cell.instance = None
        cell.handler = None
        error.add_note(f"raised by __init__ of actor {cell.path} during restart")
        fail(cell, error)
        return
    cell.state = State.STARTING
    await start(cell)


async def begin_stop(cell: Cell, error: BaseException | None) -> None:
    """Stop: children first (depth-first), then on_stop, then tell the watchers."""
    if cell.closed:
        return
    cell.closed = True
    cell.inbox = None  # tells go through post(), which dead-letters them
    cell.state = State.STOPPING
    cell.stop_error = error
    if cell.timers is not None:
        cell.timers.cancel_all()
    if cell.children:
        stop_youngest_child(cell)
        return  # _finish_stop runs when the last child has terminated
    await finish_stop(cell)


async def stop_here(cell: Cell) -> bool:
    """Stop an idle actor in the caller's task (``system.stop``), if no one could tell.

    That is when it runs with nothing queued and no worker on it (not
    scheduled), has no children, deliveries are direct (not under a test's
    control) and its class keeps `Actor.on_stop`: the stop then takes the
    same steps as on a worker (`begin_stop`) without suspending, so it
    changes no order, and it costs no task switch (as a direct ask does).

    Returns:
        True if it stopped; False if the stop must go through its mailbox.
    """
    instance = cell.instance
    if (
        instance is None
        or cell.scheduled
        or cell.state is not RUNNING
        or cell.children
        or cell.mailbox.system is not None
        or not cell.system.direct_delivery
        or type(instance).on_stop is not Actor.on_stop
    ):
        return False
    tracing = cell.system.tracing
    if tracing is not None and cell.stop_trace is None:
        cell.stop_trace = tracing.capture()  # as `Cell.post_system` does for a Stop
    cell.scheduled = True  # keeps workers off this cell meanwhile
    try:
        await begin_stop(cell, None)
    finally:
        cell.scheduled = False
    return True


async def run_on_stop(cell: Cell) -> None:
    instance = cell.instance
    if instance is not None and cell.started:
        cell.started = False
        if type(instance).on_stop is not Actor.on_stop:
            try:
                await instance.on_stop()
            except Exception:
                # on_stop failures cannot be supervised: the actor is going.
                logger.exception("on_stop of actor %s failed", cell.path)


async def finish_stop(cell: Cell) -> None:
    await run_on_stop(cell)
    cell.state = State.STOPPED
    cell.instance = None
    cell.handler = None
    cell.behaviors = None
    for envelope in cell.mailbox.drain():
        cell.reject(envelope)
    if cell.stash:
        for envelope in cell.stash:
            cell.reject(envelope)
        cell.stash = None
    while cell.mailbox.system is not None:
        cell.after_death(cell.mailbox.pop_system())
    cell.system._unregister(cell)
    parent = cell.parent
    if cell.watchers:
        notice: object = Terminated(cell.ref, cell.stop_error)
        if cell.stop_trace is not None:  # tracing: the notices continue the stop's trace
            notice = Notice(cast(Terminated, notice), cell.stop_trace)
        for watcher in cell.watchers:
            if parent is None or watcher != parent.ref:
                watcher._target.post_system(notice)
        cell.watchers = None
    if parent is not None:
        parent.post_system(ChildTerminated(cell, cell.stop_error))
    if cell.stopped_event is not None:
        cell.stopped_event.set()


# ---------------------------------------------------------------- the parent's side


def supervise(parent: Cell, child: Cell, error: Exception, incarnation: int) -> None:
    """Apply *parent*'s strategy to *child*, which failed with *error*.

    Runs on the parent's own loop (a `Failed` system message), so it never
    races with the parent's handlers.
    """
    if not _still_to_decide(parent, child, error, incarnation):
        return
    strategy = strategy_for(parent, child)
    directive = decide(strategy, child, error)
    if directive is Directive.RESUME:
        logger.warning("actor %s failed (%r); resuming", child.path, error, exc_info=error)
        child.post_system(Resume(incarnation))
    elif directive is Directive.RESTART:
        _restart_or_give_up(parent, child, strategy, error)
    elif directive is Directive.STOP:
        logger.error("actor %s failed (%r); stopping it", child.path, error, exc_info=error)
        child.post_system(Stop(error))
    elif parent.parent is None:
        # ESCALATE past the top: nothing above the guardian, so the top-level
        # actor is stopped and the failure logged (it must not pass silently).
        logger.error(
            "actor %s failed (%r) and its supervisor escalated past the top; stopping it",
            child.path,
            error,
            exc_info=error,
        )
        child.post_system(Stop(error))
    else:
        logger.error("actor %s failed (%r); escalating to %s", child.path, error, parent.path)
        parent.escalated_from = child
        fail(parent, error)


def _still_to_decide(parent: Cell, child: Cell, error: Exception, incarnation: int) -> bool:
    """False (and logged) for a stale failure, or one its parent's stop will settle."""
    if child.incarnation != incarnation or child.state is not State.SUSPENDED:
        logger.info(
            "actor %s failed (%r) but was already restarted or stopped; nothing to decide",
            child.path,
            error,
            exc_info=error,
        )
        return False
    children = parent.children
    if (
        parent.closed
        or parent.state is State.RESTARTING
        or not children
        or children.get(child.name) is not child
    ):
        logger.warning(
            "actor %s failed (%r) while its parent %s is stopping or restarting; it stops with it",
            child.path,
            error,
            parent.path,
            exc_info=error,
        )
        return False
    return True


def _restart_or_give_up(
    parent: Cell, child: Cell, strategy: SupervisorStrategy, error: Exception
) -> None:
    """RESTART, unless the restart intensity is exceeded: then STOP."""
    if child.restarts is None:
        child.restarts = RestartStats()
    clock = parent.system.timer_queue.clock
    delay = child.restarts.next_restart(strategy, clock.now(), parent.system.random)
    if delay is None:
        logger.error(
            "actor %s failed (%r) more than %s times within %g s; stopping it",
            child.path,
            error,
            strategy.max_restarts,
            strategy.within,
            exc_info=error,
        )
        child.post_system(Stop(error))
        return
    logger.error(
        "actor %s failed (%r); restarting%s",
        child.path,
        error,
        f" in {delay:.3g} s" if delay else "",
        exc_info=error,
    )
    assert parent.children is not None
    siblings = list(parent.children.values())
    _restart(parent, child, strategy.affected(child, siblings), error, delay)


def _restart(parent: Cell, failed: Cell, cells: list[Cell], error: Exception, delay: float) -> None:
    for cell in cells:
        if cell is not failed:
            # Siblings restarted along with the failed child (OneForAll, RestForOne).
            if cell.restarts is None:
                cell.restarts = RestartStats()
            cell.restarts.total += 1
        post = functools.partial(cell.post_system, Restart(error, cell.incarnation))
        if delay:
            parent.system.timer_queue.call_later(delay, post)
        else:
            post()


def strategy_for(parent: Cell, child: Cell) -> SupervisorStrategy:
    """The strategy that decides for *child*: its spawn override, else its parent's."""
    if child.supervisor is not None:
        return child.supervisor
    if parent.instance is not None:
        strategy = type(parent.instance).supervisor_strategy
        if strategy is not None:
            return strategy
    default = parent.system.default_strategy if parent.parent is None else None
    return default or DEFAULT_STRATEGY


def decide(strategy: SupervisorStrategy, child: Cell, error: Exception) -> Directive:
    """Ask the strategy's decider; a decider that fails or answers nonsense escalates."""
    try:
        directive: object = strategy.decider(error)
    except Exception:
        logger.exception("the decider for %s failed; escalating", child.path)
        return Directive.ESCALATE
    if not isinstance(directive, Directive):
        logger.error(
            "the decider for %s returned %r, not a Directive; escalating", child.path, directive
        )
        return Directive.ESCALATE
    return directive
