"""The event stream: publish/subscribe of runtime events by type, delivered as messages."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from ._deadletters import brief
from ._errors import MailboxFull
from ._ref import ActorRef

logger = logging.getLogger("actorlib")


class EventStream:
    """Actors subscribe to event types; `publish` tells every matching subscriber.

    Subscriptions match by `isinstance`, so subscribing to `object` sees
    everything. A terminated subscriber is unsubscribed by the system.
    """

    def __init__(
        self, on_undelivered: Callable[[object, ActorRef[Any]], None] | None = None
    ) -> None:
        self._subscriptions: list[tuple[ActorRef[Any], type]] = []
        self._on_undelivered = on_undelivered

    def subscribe(self, ref: ActorRef[Any], event_type: type = object) -> None:
        """Deliver every published event of *event_type* to *ref*.

        Raises:
            TypeError: *ref* is not an ActorRef or *event_type* is not a class.
        """
        if not isinstance(ref, ActorRef):
            raise TypeError(f"subscribe() expects an ActorRef, got {ref!r}")
        if not isinstance(event_type, type):
            raise TypeError(
                f"subscribe() expects an event class such as DeadLetter, got {event_type!r}"
            )
        if (ref, event_type) not in self._subscriptions:
            self._subscriptions.append((ref, event_type))

    def unsubscribe(self, ref: ActorRef[Any], event_type: type | None = None) -> None:
        """Stop delivering *event_type* (every type, if None) to *ref*."""
        self._subscriptions = [
            (r, t)
            for r, t in self._subscriptions
            if not (r == ref and (event_type is None or t is event_type))
        ]

    def has_subscribers(self) -> bool:
        """True if anything is subscribed (lets publishers skip building events)."""
        return bool(self._subscriptions)

    def publish(self, event: object) -> int:
        """Tell *event* to each matching subscriber; return how many got it.

        A subscriber whose bounded mailbox refuses the event is skipped (the
        event becomes a dead letter): publishing never fails the publisher.
        """
        delivered = 0
        for ref, event_type in self._subscriptions:
            if isinstance(event, event_type):
                try:
                    ref.tell(event)
                except MailboxFull:
                    logger.warning(
                        "event %s not delivered to %s: mailbox full", brief(event), ref.path
                    )
                    if self._on_undelivered is not None:
                        self._on_undelivered(event, ref)
                else:
                    delivered += 1
        return delivered
