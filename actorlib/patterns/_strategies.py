"""Routing strategies: which routee(s) get a message; no actors here, only choices."""

from __future__ import annotations

import bisect
import random
import zlib
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from .._ref import ActorRef


class RoutingStrategy(Protocol):
    """Chooses the routees of one message among the current ones (never empty)."""

    def select(
        self, message: object, routees: Sequence[ActorRef[Any]], rng: random.Random
    ) -> Sequence[ActorRef[Any]]:
        """The routees that get *message*; the first one answers an ask."""
        ...


class RoundRobin:
    """Each routee in turn."""

    def __init__(self) -> None:
        self._next = 0

    def __repr__(self) -> str:
        return "RoundRobin()"

    def select(
        self, message: object, routees: Sequence[ActorRef[Any]], rng: random.Random
    ) -> Sequence[ActorRef[Any]]:
        """The next routee after the previous choice."""
        index = self._next % len(routees)
        self._next = index + 1
        return (routees[index],)


class Random:
    """A routee drawn uniformly (from the system's seeded random source)."""

    def __repr__(self) -> str:
        return "Random()"

    def select(
        self, message: object, routees: Sequence[ActorRef[Any]], rng: random.Random
    ) -> Sequence[ActorRef[Any]]:
        """One routee at random."""
        return (routees[rng.randrange(len(routees))],)


def _load(ref: ActorRef[Any]) -> int:
    # Queued messages, plus one if it is busy with a message now: an idle
    # routee wins a tie against a busy one (Akka's SmallestMailbox does too).
    target = ref._target
    mailbox = getattr(target, "mailbox", None)
    depth = mailbox.user_depth if mailbox is not None else 0
    busy = getattr(target, "current", None) is not None or getattr(target, "scheduled", False)
    return 2 * depth + (1 if busy else 0)


class SmallestMailbox:
    """The routee with the fewest messages waiting (idle ones first).

    Only local actors report their mailbox; others count as empty.
    """

    def __repr__(self) -> str:
        return "SmallestMailbox()"

    def select(
        self, message: object, routees: Sequence[ActorRef[Any]], rng: random.Random
    ) -> Sequence[ActorRef[Any]]:
        """The least loaded routee (the first of equals)."""
        return (min(routees, key=_load),)


def stable_hash(value: object) -> int:
    """A hash of ``repr(value)`` that is the same in every process (unlike ``hash``)."""
    return zlib.crc32(repr(value).encode())


class ConsistentHashing:
    """Messages with equal keys go to the same routee; few move when routees change.

    Args:
        key: maps a message to its key (hashed by its ``repr``).
        virtual_nodes: points per routee on the hash ring (more: more even).

    Raises:
        TypeError: *key* is not callable.
        ValueError: *virtual_nodes* below 1.
    """

    def __init__(self, key: Callable[[Any], object], *, virtual_nodes: int = 64) -> None:
        if not callable(key):
            raise TypeError(f"key must be a callable mapping a message to its key, got {key!r}")
        if isinstance(virtual_nodes, bool) or not isinstance(virtual_nodes, int):
            raise TypeError(f"virtual_nodes must be an int, got {virtual_nodes!r}")
        if virtual_nodes < 1:
            raise ValueError(f"virtual_nodes must be at least 1, got {virtual_nodes!r}")
        self.key = key
        self.virtual_nodes = virtual_nodes
        self._ring: list[tuple[int, int]] = []
        self._ring_of: tuple[str, ...] = ()

    def __repr__(self) -> str:
        return f"ConsistentHashing(key={self.key!r}, virtual_nodes={self.virtual_nodes})"

    def select(
        self, message: object, routees: Sequence[ActorRef[Any]], rng: random.Random
    ) -> Sequence[ActorRef[Any]]:
        """The routee owning the key's point on the ring."""
        paths = tuple(ref.path for ref in routees)
        if paths != self._ring_of:
            # Points depend on the routee's path, not its position, so a change
            # of routees moves only the keys of the routees that changed.
            self._ring = sorted(
                (stable_hash(f"{path}#{n}"), index)
                for index, path in enumerate(paths)
                for n in range(self.virtual_nodes)
            )
            self._ring_of = paths
        point = stable_hash(self.key(message))
        at = bisect.bisect(self._ring, (point, len(routees)))
        return (routees[self._ring[at % len(self._ring)][1]],)


class Broadcast:
    """Every routee gets every message; an ask is answered by the first routee."""

    def __repr__(self) -> str:
        return "Broadcast()"

    def select(
        self, message: object, routees: Sequence[ActorRef[Any]], rng: random.Random
    ) -> Sequence[ActorRef[Any]]:
        """All routees, in order."""
        return tuple(routees)
