"""Rebalancing: which active keys should move to another member, and how fast they may.

When a member that hosts a kind joins, rendezvous hashing makes it the
preferred host of about ``1/n`` of the keys; the members holding those keys
hand them off (passivate them and release their leases) so that their
next messages activate them there. `misplaced` is the pure choice; `Mover`
keeps the keys waiting to move and lets out a bounded number per second.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable

from ._placement import preferred


def misplaced(kind: str, keys: Iterable[str], hosts: Collection[str], me: str) -> list[str]:
    """The keys among *keys* (active on member *me*) whose preferred host is another of *hosts*.

    A key moves only if its preferred member is live and hosts the kind:
    with *me* missing from *hosts* (a view that does not know this member
    yet), nothing moves.
    """
    if me not in hosts:
        return []
    return [key for key in keys if preferred(kind, key, hosts) != me]


def check_rate(rate: object) -> float | None:
    """*rate* if it is a valid ``moves_per_second`` (a number > 0, or None).

    Raises:
        ValueError: it is not.
    """
    if rate is None:
        return None
    if isinstance(rate, bool) or not (
        isinstance(rate, int | float) and math.isfinite(rate) and rate > 0
    ):
        raise ValueError(
            f"moves_per_second must be a number of moves > 0, or None for no rebalancing, "
            f"got {rate!r}"
        )
    return float(rate)


class Mover:
    """Keys waiting to move off this member, let out at most *rate* per second (a token bucket).

    The bucket holds at most ``max(1, rate)`` moves, so a join moves at
    most that many keys at once, then *rate* per second.
    """

    def __init__(self, rate: float, now: float) -> None:
        self.rate = rate
        self.capacity = max(1.0, rate)
        self.tokens = self.capacity
        self.last = now
        self.pending: dict[str, None] = {}  # ordered, without duplicates

    def add(self, keys: Iterable[str]) -> None:
        """Queue *keys* to move (again queued keys keep their place)."""
        self.pending.update(dict.fromkeys(keys))

    def take(self, now: float) -> list[str]:
        """The keys that may move now, oldest queued first; they leave the queue."""
        self.tokens = min(self.capacity, self.tokens + (now - self.last) * self.rate)
        self.last = now
        count = min(int(self.tokens), len(self.pending))
        taken = list(self.pending)[:count]
        for key in taken:
            del self.pending[key]
        self.tokens -= count
        return taken
