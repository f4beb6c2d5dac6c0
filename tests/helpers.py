"""Shared test helpers: a probe that actors report to and tests wait on, a collecting actor."""

from __future__ import annotations

from collections.abc import Callable

import anyio

from actorlib import Actor


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
