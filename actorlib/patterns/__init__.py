"""actorlib.patterns: routers (Pool, Group) and their routing strategies.

A `Pool` spawns and supervises its workers; a `Group` routes to actors that
already exist. Both forward each message to the routee(s) chosen by a
strategy, keeping its sender and its ask: the routee answers the asker.
"""

from __future__ import annotations

from ._routers import GetRoutees, Group, Pool, Resize, resize, routees
from ._strategies import (
    Broadcast,
    ConsistentHashing,
    Random,
    RoundRobin,
    RoutingStrategy,
    SmallestMailbox,
)

__all__ = [
    "Broadcast",
    "ConsistentHashing",
    "GetRoutees",
    "Group",
    "Pool",
    "Random",
    "Resize",
    "RoundRobin",
    "RoutingStrategy",
    "SmallestMailbox",
    "resize",
    "routees",
]
