"""Deadlock: a cycle of asks that nothing in flight can answer, and finding one."""

from __future__ import annotations

from typing import Any

import attrs

from .._errors import ActorError
from .._messages import ReplySlot
from .._ref import ActorRef


@attrs.define(auto_exc=True, str=False, repr=False, slots=False)
class Deadlock(ActorError):
    """Actors wait on each other's replies and nothing in flight can free them.

    Attributes:
        cycle: the paths of the actors in the cycle, each asking the next
            (and the last asking the first).
    """

    cycle: tuple[str, ...] = ()

    def __str__(self) -> str:
        pairs = [
            f"{asker} asks {self.cycle[(i + 1) % len(self.cycle)]}"
            for i, asker in enumerate(self.cycle)
        ]
        return (
            f"deadlock: {'; '.join(pairs)}; nothing in flight can answer them "
            f"(a cycle of asks: answer one of them with a tell instead)"
        )


def find_cycle(
    asks: dict[ReplySlot, tuple[ActorRef[Any] | None, ActorRef[Any]]],
) -> list[str] | None:
    """The paths of a cycle among the unanswered *asks* (asker -> recipient), if any."""
    waits: dict[str, str] = {}
    for slot, (asker, recipient) in asks.items():
        if asker is not None and not slot.done:
            waits[asker.path] = recipient.path
    for start in sorted(waits):
        seen: list[str] = []
        node: str | None = start
        while node is not None and node not in seen:
            seen.append(node)
            node = waits.get(node)
        if node is not None:
            return seen[seen.index(node) :]
    return None
