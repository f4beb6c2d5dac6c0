"""Who waits on whose reply, and the walk that finds a cycle of asks; knows no cell.

An actor handles one message at a time, so while its handler awaits an ask it
answers nobody: an ask to an actor that waits, directly or through a chain of
asks, on the asker can only end by its timeout. Each local actor is a
`Asker` that records the reply slots its handler awaits (`start_waiting`
and `stop_waiting`, around the wait in ``ActorRef.ask``, however the ask
ends). Before an ask from a handler is sent, `ask_cycle` walks those records
from its target; `forward_cycle` does the same when a router passes an ask
on. A slot leads to the actor that must answer it: its recipient, or the
last actor it was forwarded to.

Only asks that go through a mailbox wait. An ask answered in the asker's
task (``Cell.post_ask``) records nothing and closes no cycle: its handler has
no await, so it cannot ask anyone. Remote targets are not Askers: the walk
stops at them, so a cycle through another node is not found.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._errors import AskCycleError

if TYPE_CHECKING:
    from ._messages import ReplySlot
    from ._ref import Target

# A node still to visit: the target, the paths from the asker to it, and the
# paths of the actors on the way that forwarded the ask rather than asking.
_Step = tuple[object, tuple[str, ...], tuple[str, ...]]


class Asker:
    """A local actor, seen as the asks its handler awaits (its cell)."""

    __slots__ = ("awaiting",)

    path: str

    def __init__(self) -> None:
        # The reply slots its handler awaits, oldest first: usually none or
        # one, more if the handler asks from several tasks at once. None
        # until its first ask that waits.
        self.awaiting: list[ReplySlot] | None = None


def start_waiting(waiter: Asker, slot: ReplySlot) -> None:
    """Record that *waiter*'s handler now awaits *slot*."""
    awaiting = waiter.awaiting
    if awaiting is None:
        waiter.awaiting = [slot]
    else:
        awaiting.append(slot)


def stop_waiting(waiter: Asker, slot: ReplySlot) -> None:
    """Forget *slot* (its ask ended: a reply, an error, a timeout or a cancellation)."""
    awaiting = waiter.awaiting
    if awaiting is not None:
        awaiting.remove(slot)


def ask_cycle(asker: Asker, target: Target) -> AskCycleError | None:
    """The error for an ask from *asker*'s handler to *target*, if it would close a cycle."""
    return _walk(asker, [(target, (asker.path, target.path), ())])


def forward_cycle(asker: Asker, slot: ReplySlot) -> AskCycleError | None:
    """The error for *asker*'s ask in *slot*, just forwarded, if that closed a cycle."""
    holder, paths, forwarded = _follow(slot)
    return _walk(asker, [(holder, (asker.path, *paths), forwarded)])


def _follow(slot: ReplySlot) -> _Step:
    """Who must answer *slot*, the paths that lead there, and which of them forwarded it."""
    first = slot.recipient._target
    forwards = slot.forwarded_to
    if not forwards:
        return first, (first.path,), ()
    hops = [first, *forwards]
    return hops[-1], tuple(hop.path for hop in hops), tuple(hop.path for hop in hops[:-1])


def _walk(asker: Asker, frontier: list[_Step]) -> AskCycleError | None:
    # Depth first over the awaited slots that are still open: usually a
    # straight chain. `seen` keeps the walk finite whatever the records hold.
    seen: set[int] = set()
    while frontier:
        node, paths, forwarded = frontier.pop()
        if node is asker:
            return AskCycleError(cycle=paths[:-1], forwarded=forwarded)
        if not isinstance(node, Asker) or not node.awaiting or id(node) in seen:
            continue
        seen.add(id(node))
        for slot in node.awaiting:
            # A done slot is an ask that ended: its asker is about to resume.
            if not slot.done:
                holder, hops, passed = _follow(slot)
                frontier.append((holder, paths + hops, forwarded + passed))
    return None
