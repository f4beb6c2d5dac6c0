"""The queues open on each actor system, for readers such as actorlib.dashboard.

Not a global registry of queues by name: each system has its own list, kept
beside it (weakly: a system that is gone takes its list with it), and a
queue is on it from the moment it opens until it starts closing. Nothing in
the jobs package reads it.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING

from .._system import ActorSystem

if TYPE_CHECKING:
    from ._queue import JobQueue

_open: weakref.WeakKeyDictionary[ActorSystem, list[JobQueue]] = weakref.WeakKeyDictionary()


def opened(system: ActorSystem, queue: JobQueue) -> None:
    """*queue* opened on *system*."""
    _open.setdefault(system, []).append(queue)


def closing(system: ActorSystem, queue: JobQueue) -> None:
    """*queue* starts closing (or was never opened): leave the list."""
    queues = _open.get(system)
    if queues is not None and queue in queues:
        queues.remove(queue)


def open_queues(system: ActorSystem) -> tuple[JobQueue, ...]:
    """The job queues open on *system*, in the order they opened.

    A queue is listed from the moment `JobQueue.start` (or ``async with``)
    has opened it until `JobQueue.close` begins. This is how a dashboard
    finds "every job queue started on that system" without the user naming
    them.

    Raises:
        TypeError: *system* is not an ActorSystem.
    """
    if not isinstance(system, ActorSystem):
        raise TypeError(f"open_queues() expects an ActorSystem, got {system!r}")
    return tuple(_open.get(system, ()))
