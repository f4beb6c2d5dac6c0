"""Placement strategies: which member gets the next actor spawned through the cluster; pure."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from ._members import Member


@runtime_checkable
class Strategy(Protocol):
    """Orders the candidate members for one placement: the first is tried first."""

    def order(self, members: Sequence[Member]) -> list[Member]:
        """*members* in the order to try them (a member that cannot be reached is skipped)."""
        ...


class RoundRobin:
    """Each placement goes to the next member in turn (by node id)."""

    def __init__(self) -> None:
        self._next = 0

    def __repr__(self) -> str:
        return "RoundRobin()"

    def order(self, members: Sequence[Member]) -> list[Member]:
        """The members by node id, rotated one further at each call."""
        ordered = sorted(members, key=lambda member: member.node_id)
        if not ordered:
            return []
        start = self._next % len(ordered)
        self._next += 1
        return ordered[start:] + ordered[:start]


class LeastLoaded:
    """Each placement goes to the member with the fewest actors and ready actors.

    Loads come from the members' heartbeats (every quarter of
    ``down_after``), so placements made here since a member last reported
    a different load are counted too: a burst of spawns does not all go to
    the member that was idlest a second ago.
    """

    def __init__(self) -> None:
        # node id -> (the load it reported, placements here since it reported it)
        self._placed: dict[str, tuple[int, int]] = {}

    def __repr__(self) -> str:
        return "LeastLoaded()"

    def load(self, member: Member) -> int:
        """The member's load: its actors and ready actors, plus placements since it reported."""
        reported = member.actors + member.ready
        seen, placed = self._placed.get(member.node_id, (reported, 0))
        return reported + (placed if seen == reported else 0)

    def order(self, members: Sequence[Member]) -> list[Member]:
        """The members from the least loaded up (ties by node id); the first is counted."""
        ordered = sorted(members, key=lambda member: (self.load(member), member.node_id))
        if ordered:
            first = ordered[0]
            reported = first.actors + first.ready
            self._placed[first.node_id] = (reported, self.load(first) - reported + 1)
        return ordered


class ByRole:
    """Only members with *role*, ordered by *then* (round-robin by default).

    Args:
        role: the role a member must have.
        then: the strategy among them.
    """

    def __init__(self, role: str, then: Strategy | None = None) -> None:
        if not isinstance(role, str) or not role:
            raise ValueError(f"ByRole() needs a role name, got {role!r}")
        self.role = role
        self.then: Strategy = RoundRobin() if then is None else then

    def __repr__(self) -> str:
        return f"ByRole({self.role!r}, then={self.then!r})"

    def order(self, members: Sequence[Member]) -> list[Member]:
        """The members with the role, ordered by *then*."""
        return self.then.order([member for member in members if self.role in member.roles])
