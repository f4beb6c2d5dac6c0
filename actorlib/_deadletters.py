"""Dead letters: count, log and publish messages that could not be delivered."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from ._messages import DeadLetter

if TYPE_CHECKING:
    from ._events import EventStream
    from ._ref import ActorRef

logger = logging.getLogger("actorlib")

_LOGGED_DEAD_LETTERS = 10


class DeadLetters:
    """One system's dead letters: a counter, the first few logged, all published."""

    def __init__(self, events: EventStream) -> None:
        self.events = events
        self.count = 0

    def record(
        self, message: object, recipient: ActorRef[Any] | None, sender: ActorRef[Any] | None
    ) -> None:
        """Count, log (the first few) and publish `DeadLetter` for *message*."""
        self.count += 1
        if self.count <= _LOGGED_DEAD_LETTERS:
            logger.info(
                "dead letter %d: %.200r to %s%s",
                self.count,
                message,
                "nobody" if recipient is None else recipient.path,
                "; further dead letters are not logged: subscribe to DeadLetter to see them"
                if self.count == _LOGGED_DEAD_LETTERS
                else "",
            )
        if type(message) is DeadLetter:
            return  # an undeliverable DeadLetter event must not breed another
        if self.events.has_subscribers():
            self.events.publish(DeadLetter(message, recipient, sender))
