"""A key active in a region: its record and the phases it goes through; no routing, no leases."""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:
    from actorlib import ActorRef
    from actorlib._messages import Envelope

    from ._entity import EntityContext
    from ._region_messages import EntityMessage


class Phase(enum.Enum):
    """Where an activation is, from its start to its end (see `Activation.move`)."""

    # Handed the messages for its key.
    ACTIVE = "active"
    # Handed off: a PoisonPill is queued behind the messages it has, and it
    # stops once it has handled them. Messages that come meanwhile are held.
    DRAINING = "draining"
    # Fenced (what it has queued comes back to the region) and sent a
    # PoisonPill, or had one queued already. Messages that come are held.
    STOPPING = "stopping"
    # Terminated and released; its held messages are routed at `_Reroute`,
    # and then it leaves the region.
    ENDED = "ended"


# Invariant: an activation only moves forward, one of these moves at a time.
# A stop overrides a hand-off (DRAINING -> STOPPING); an activation that ends
# without being stopped (its actor failed for good, or stopped itself) goes
# from where it is to ENDED. A stop or a hand-off of a STOPPING or ENDED
# activation changes nothing (the region checks before it moves one).
_MOVES: dict[Phase, frozenset[Phase]] = {
    Phase.ACTIVE: frozenset({Phase.DRAINING, Phase.STOPPING, Phase.ENDED}),
    Phase.DRAINING: frozenset({Phase.STOPPING, Phase.ENDED}),
    Phase.STOPPING: frozenset({Phase.ENDED}),
    Phase.ENDED: frozenset(),
}


@attrs.define
class Activation:
    """A key active here: its actor, its context, and messages held while it stops."""

    ref: ActorRef[Any]
    context: EntityContext
    last_used: float
    # Every phase but ACTIVE holds the messages that come for its key.
    phase: Phase = Phase.ACTIVE
    # Why it stops (for EntityStopped): set by the first stop, or by a stop that
    # overrides a hand-off ("rebalanced"); a later stop changes nothing.
    reason: str = "failed"
    # Invariant: the messages it gave back come first, in the order it got them:
    # the region passed them to it before it held any of the others.
    held: list[tuple[EntityMessage, Envelope]] = attrs.Factory(list)
    returned: int = 0

    def move(self, phase: Phase) -> None:
        """Move on to *phase*, one of the moves `_MOVES` allows from the current one."""
        assert phase in _MOVES[self.phase], f"an activation cannot go from {self.phase} to {phase}"
        self.phase = phase
