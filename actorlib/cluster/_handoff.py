"""Taking the message being handled from a region, and handing it on unchanged; no policy.

A region routes messages it does not answer itself: it takes the current
message (with its sender and the asker's reply slot) so that its own
return value answers nothing, then delivers it (unwrapped) to an
activation, another member's region, or back to its own routing later.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from actorlib._messages import Envelope, as_envelope

if TYPE_CHECKING:
    from actorlib import ActorRef, ActorSystem
    from actorlib._context import ActorContext


def take_current(context: ActorContext) -> Envelope:
    """The message being handled, detached: the handler's return value answers nothing.

    Raises:
        RuntimeError: called outside of message handling, or twice.
    """
    cell = context._cell
    current = cell.current
    if current is None:
        raise RuntimeError(f"{cell.path} has no current message to take (taken already?)")
    cell.current = None
    return as_envelope(current)


def deliver(ref: ActorRef[Any], message: object, envelope: Envelope) -> None:
    """Send *message* to *ref* from *envelope*'s sender; an ask stays with it."""
    target = ref._target
    if envelope.reply is None:
        target.tell(message, envelope.sender)
    else:
        target.post(Envelope(message, envelope.sender, envelope.reply))


def fail(
    system: ActorSystem, recipient: ActorRef[Any], envelope: Envelope, error: Exception
) -> None:
    """The message cannot be delivered: its asker gets *error*; a tell is a dead letter."""
    if envelope.reply is None:
        system.dead_letter(envelope.message, recipient, envelope.sender)
    else:
        system.delivery.reply(envelope.reply, None, error)
