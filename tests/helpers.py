"""Shared test helpers: a probe that actors report to and tests wait on, and small actors."""

from __future__ import annotations

from collections.abc import Callable

import anyio

from actorlib import Actor, ActorRef, Terminated


class Probe:
    """Collects what actors report; tests wait on it instead of sleeping."""

    def __init__(self) -> None:
        self.items: list[object] = []
        self._changed = anyio.Event()

    def put(self, item: object) -> None:
        """Record *item* and wake whoever waits."""
        self.items.append(item)
        self._changed.set()
        self._changed = anyio.Event()

    async def wait_for(self, predicate: Callable[[list[object]], bool]) -> None:
        """Wait (5 s at most) until *predicate* holds for the items so far."""
        with anyio.fail_after(5):
            while not predicate(self.items):
                await self._changed.wait()

    def events(self, kind: str) -> list[tuple[object, ...]]:
        """The (kind, ...) tuples reported so far."""
        return [i for i in self.items if isinstance(i, tuple) and i[0] == kind]

    def tags(self, kind: str) -> list[str]:
        """The second element of each (kind, tag, ...) tuple."""
        return [str(i[1]) for i in self.events(kind)]

    def count(self, item: object) -> int:
        """How many times *item* was reported."""
        return self.items.count(item)


class Collector(Actor):
    """Records what it receives; answers "get" with the list."""

    def __init__(self) -> None:
        self.seen: list[object] = []

    async def receive(self, message: object) -> object:
        if message == "get":
            return list(self.seen)
        self.seen.append(message)
        return None


class Idle(Actor):
    """Does nothing of its own: answers each ask with the message itself."""

    async def receive(self, message: object) -> object:
        return message


class Watcher(Actor):
    """Watches each ref it is sent (and answers "watching"); reports each `Terminated`.

    It puts ``("terminated", error)`` to *probe*, or, when *timed*,
    ``("terminated", now, error)`` with its system clock's reading (virtual
    time, on a `VirtualClock`) when the notice came.
    """

    def __init__(self, probe: Probe, *, timed: bool = False) -> None:
        self.probe = probe
        self.timed = timed

    async def receive(self, message: object) -> object:
        if isinstance(message, Terminated):
            if self.timed:
                now = self.context.system.clock.now()
                self.probe.put(("terminated", now, message.error))
            else:
                self.probe.put(("terminated", message.error))
        elif isinstance(message, ActorRef):
            self.context.watch(message)
            return "watching"
        return None
