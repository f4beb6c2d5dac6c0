"""The states of a cell and how a parent applies its strategy to a failed child."""

from __future__ import annotations

import enum
import functools
import logging
from typing import TYPE_CHECKING

from ._messages import Restart, Resume, Stop
from ._supervision import Directive, RestartStats

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


# Invariant: a cell in one of these states accepts only system messages; user
# messages sent to it become dead letters.
CLOSED = frozenset({State.STOPPING, State.STOPPED})


def supervise(parent: Cell, child: Cell, error: Exception, incarnation: int) -> None:
    """Apply *parent*'s strategy to *child*, which failed with *error*.

    Runs on the parent's own loop (a `Failed` system message), so it never
    races with the parent's handlers.
    """
    if child.incarnation != incarnation or child.state is not State.SUSPENDED:
        return  # stale: the child was restarted or stopped meanwhile
    if parent.state in CLOSED or parent.state is State.RESTARTING:
        return  # the child is being stopped with its parent anyway
    children = parent.children
    if not children or children.get(child.name) is not child:
        return
    directive = parent.decide(child, error)
    strategy = parent.strategy_for(child)
    if directive is Directive.RESUME:
        logger.warning("actor %s failed (%r); resuming", child.path, error, exc_info=error)
        child.post_system(Resume(incarnation))
    elif directive is Directive.RESTART:
        if child.restarts is None:
            child.restarts = RestartStats()
        clock = parent.system.timer_queue.clock
        delay = child.restarts.next_restart(strategy, clock.now())
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
        _restart(parent, child, strategy.affected(child, list(children.values())), error, delay)
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
        parent.fail(error)


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
