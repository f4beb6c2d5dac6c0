"""What the dashboard shows of an actor system: actors and their rates, dead letters.

Everything here reads: `ActorSystem.statistics`, `ActorSystem.actor_statistics`,
on each tick or request (nodes and links: _nodes_view). The one thing it adds to
the system is a subscriber to `DeadLetter` events, which sees dead letters
only (never a message that was delivered).
"""

from __future__ import annotations

import collections
import itertools
import secrets
import time
from typing import Any

import anyio

from .. import Actor, ActorRef, ActorSystem, DeadLetter
from .._deadletters import brief
from ._nodes_view import nodes

#: Dead letters kept for the page (the newest).
DEAD_LETTERS_KEPT = 200


class DeadLetterLog:
    """The latest dead letters, numbered so a poller can ask for the ones after its last."""

    def __init__(self) -> None:
        self.entries: collections.deque[dict[str, object]] = collections.deque(
            maxlen=DEAD_LETTERS_KEPT
        )
        self._numbers = itertools.count(1)

    def add(self, letter: DeadLetter) -> None:
        """Keep *letter*, as bounded text (its message's repr is cut short)."""
        self.entries.append(
            {
                "seq": next(self._numbers),
                "time": time.time(),
                "message": brief(letter.message),
                "message_type": type(letter.message).__qualname__,
                "recipient": None if letter.recipient is None else letter.recipient.path,
                "sender": None if letter.sender is None else letter.sender.path,
            }
        )

    def since(self, seq: int) -> list[dict[str, object]]:
        """The kept entries numbered above *seq*, oldest first."""
        return [entry for entry in self.entries if int(str(entry["seq"])) > seq]


class _DeadLetterListener(Actor):
    """Subscribed to `DeadLetter` events; keeps each one in the dashboard's log."""

    def __init__(self, log: DeadLetterLog) -> None:
        self.log = log

    async def on_start(self) -> None:
        self.context.system.events.subscribe(self.ref, DeadLetter)

    async def receive(self, message: object) -> None:
        if isinstance(message, DeadLetter):
            self.log.add(message)


class SystemView:
    """Snapshots of one running system, with each actor's message rate between ticks."""

    def __init__(self, system: ActorSystem) -> None:
        self.system = system
        self.dead_letters = DeadLetterLog()
        self.listener: ActorRef[Any] | None = None
        self.rates: dict[str, float] = {}
        self.messages_per_second = 0.0
        self._last: tuple[float, dict[str, int]] | None = None

    async def start(self) -> None:
        """Subscribe to dead letters (an actor of the system, named ``dashboard-...``)."""
        self.listener = await self.system.spawn(
            _DeadLetterListener, self.dead_letters, name=f"dashboard-{secrets.token_hex(4)}"
        )

    async def stop(self) -> None:
        """Unsubscribe (if the system still runs)."""
        if self.listener is not None and self.system.lookup(self.listener.path) is not None:
            await self.system.stop(self.listener)

    def tick(self) -> None:
        """Work out each actor's messages per second since the last tick."""
        now = anyio.current_time()
        handled = {a.path: a.handled for a in self.system.actor_statistics()}
        if self._last is not None:
            then, before = self._last
            elapsed = max(now - then, 1e-9)
            self.rates = {
                path: max(0, count - before.get(path, 0)) / elapsed
                for path, count in handled.items()
            }
            self.messages_per_second = sum(self.rates.values())
        self._last = (now, handled)

    def actors(self) -> dict[str, object]:
        """The system's counters and every live actor, parents first."""
        statistics = self.system.statistics()
        return {
            "system": self.system.name,
            "statistics": {
                "actors": statistics.actors,
                "dead_letters": statistics.dead_letters,
                "workers": statistics.workers,
                "idle_workers": statistics.idle_workers,
                "ready": statistics.ready,
                "timers": statistics.timers,
            },
            "actors": [
                {
                    "path": a.path,
                    "name": a.name,
                    "class": a.actor_class,
                    "state": a.state,
                    "mailbox": a.mailbox,
                    "restarts": a.restarts,
                    "handled": a.handled,
                    "rate": round(self.rates.get(a.path, 0.0), 2),
                }
                for a in self.system.actor_statistics()
            ],
        }

    def nodes(self) -> dict[str, object] | None:
        """This node, its links and its clusters (see _nodes_view), or None if not remote."""
        return nodes(self.system)
