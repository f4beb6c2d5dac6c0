"""The Transport seam: what the core asks of a remote layer; knows no implementation.

The core never imports ``actorlib.remote``: a system is handed a `Transport`
(``ActorSystem(transport=...)``) and a placement (``spawn(..., node=...)``),
and calls them through these protocols only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import attrs

if TYPE_CHECKING:
    from ._actor import Actor
    from ._mailbox import Mailbox
    from ._ref import ActorRef
    from ._supervision import SupervisorStrategy
    from ._system import ActorSystem


@attrs.frozen
class SpawnSpec:
    """What a ``spawn(...)`` call asked for, as it travels from the API to where it is done."""

    actor_class: type[Actor]
    args: tuple[object, ...] = ()
    kwargs: dict[str, object] = attrs.field(factory=dict)
    name: str | None = None
    mailbox: Mailbox | None = None
    supervisor: SupervisorStrategy | None = None


# Spawns an actor where the core would have put it (same parent, name and
# supervisor override).
SpawnLocal = Callable[[SpawnSpec], "ActorRef[Any]"]


@runtime_checkable
class Placement(Protocol):
    """Where ``spawn(..., node=...)`` puts an actor: another process or machine."""

    async def place(self, spawn_local: SpawnLocal, spec: SpawnSpec) -> ActorRef[Any]:
        """Start the actor there and return a ref supervised by the would-be parent."""
        ...


@runtime_checkable
class Transport(Protocol):
    """How envelopes reach actors in other processes or machines (DESIGN.md seam 3)."""

    async def start(self, system: ActorSystem) -> None:
        """Called once the system runs, before any actor is spawned."""
        ...

    async def stop(self) -> None:
        """Called by shutdown once every actor has stopped."""
        ...

    async def start_nodes(self, count: int) -> Sequence[Placement]:
        """Start *count* worker nodes that the transport supervises and stops."""
        ...
