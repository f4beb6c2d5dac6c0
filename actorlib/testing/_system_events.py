"""System messages and actor timers as schedulable events of a simulated run.

The controller holds a system message in flight, like an envelope, unless it
must stay atomic with its cause; and it may fire the next actor timer before
the messages in flight. This module says which messages are held, how they
show in the trace, and which timer may fire early; the controller does the rest.

Which system messages are held, and why:

- Held (independent events): ``Stop`` from another actor or test code,
  ``Watch``/``Unwatch``, ``Terminated`` notices, ``ChildTerminated``,
  ``Failed``, ``Resume`` and ``Restart``. Each crosses from one actor to
  another, so in the runtime it may meet the recipient at any point between
  two of its messages: a watcher may handle B's last message before or after
  B's ``Terminated``, a parent may take other messages before a child's
  ``Failed``. The core promises nothing more between them and user
  messages, and the cell checks each on arrival (a ``Watch`` of a dead actor
  answers ``Terminated``, a stale directive's incarnation no longer matches,
  an unwatched ``Terminated`` is dropped), so any arrival order is one the
  runtime can produce.
- Atomic (delivered at once): a system message an actor sends itself
  (``context.stop()``), because it is a change of its own state, not
  communication: the runtime takes it before the actor's next message, and
  holding it would let the actor handle messages it never could. And every
  system message once the system shuts down: leaving ``async with`` stops
  the actors in its fixed depth-first order, so every trace ends as before.

Order kept: system messages from one sender to one recipient arrive in the
order sent, and a user message never arrives before a system message its
sender sent the same recipient earlier (in the runtime that one is in the
system lane first). A system message may overtake the sender's earlier user
messages still in flight: in the runtime it overtakes them in the mailbox.
"""

from __future__ import annotations

from typing import Any

from .._clock import TimerQueue
from .._messages import (
    ChildTerminated,
    Failed,
    Notice,
    Restart,
    Resume,
    Stop,
    Terminated,
    Unwatch,
    Watch,
)
from .._ref import ActorRef
from .._timers import Timer
from ._schedule import stable_repr
from ._virtual_clock import VirtualClock


def held(sender: ActorRef[Any] | None, recipient: Any, *, shutting_down: bool) -> bool:
    """Whether a system message from *sender* to *recipient* waits for the schedule."""
    return not shutting_down and (sender is None or sender != recipient.ref)


def describe(message: object) -> str:
    """A short, stable text for a system message in the trace."""
    match message:
        case Stop(error=error):
            return "Stop" if error is None else f"Stop({stable_repr(error)})"
        case Watch(watcher=watcher):
            return f"Watch({watcher.path})"
        case Unwatch(watcher=watcher):
            return f"Unwatch({watcher.path})"
        case Notice(terminated=notice):
            return describe(notice)
        case Terminated(ref=ref, error=error):
            return f"Terminated({ref.path}{_error(error)})"
        case ChildTerminated(child=child, error=error):
            return f"ChildTerminated({child.path}{_error(error)})"
        case Failed(child=child, error=error):
            return f"Failed({child.path}, {stable_repr(error)})"
        case Resume():
            return "Resume"
        case Restart(error=error):
            return f"Restart({stable_repr(error)})"
    return stable_repr(message)  # pragma: no cover - every system message is named above


def _error(error: BaseException | None) -> str:
    return "" if error is None else f", {stable_repr(error)}"


def next_timer(queue: TimerQueue, clock: VirtualClock) -> Timer | None:
    """The actor timer that may fire now, ahead of the messages in flight; or None.

    Only the timer queue's next entry, and only if it is an actor's timer and
    nothing else sleeps until an earlier time: firing it moves time to its
    deadline, which must skip no ask timeout, backoff or other deadline
    (those fire in their order when time moves as before), nor pass the
    clock's horizon (the end of an `advance`).
    """
    head = queue.peek()
    if head is None:
        return None
    timer = head.callback
    if type(timer) is not Timer or head.deadline > min(clock.next_deadline(), clock.horizon):
        return None
    return timer
