"""The messages a region gets: from senders, regions, the renewer and itself; no routing."""

from __future__ import annotations

from typing import Any

import attrs

from actorlib import ActorRef


@attrs.define
class EntityMessage:
    """A message for entity *key*, on its way through the regions (internal)."""

    key: str
    message: object
    hops: int = 0
    # The region that sent it by its cached route: told if the route is stale.
    via: ActorRef[Any] | None = None
    # Given back, unhandled, by an activation whose lease ended (see `Region._hand_back`).
    returned: bool = False


@attrs.frozen
class _Stale:
    """The key *key* is no longer on member *node*: forget a cached route there."""

    key: str
    node: str


@attrs.frozen
class _Sweep:
    """Tick: passivate idle activations, stop those whose lease is no longer valid."""


@attrs.frozen
class _Reroute:
    """The activation of *key* has ended: route the messages it held (after those queued)."""

    key: str


@attrs.frozen
class _Fenced:
    """The renewer lost the lease of *key* (or its deadline passed): stop the activation."""

    key: str
