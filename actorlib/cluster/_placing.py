"""Spawning through the cluster: a Placement that picks a live member at every (re)start."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from actorlib import Actor, ActorRef
from actorlib._transport import SpawnLocal, SpawnSpec
from actorlib.remote import NodeLost, Peer
from actorlib.remote._hosts import RemoteHostBase

from ._errors import ClusterError
from ._strategies import Strategy

if TYPE_CHECKING:
    from ._cluster import Cluster


class ClusterPlacement(RemoteHostBase):
    """Where ``spawn(..., node=cluster.placement(...))`` puts an actor: a member chosen anew.

    The actor runs on another member, behind a local stand-in supervised
    by its parent (see docs/remote.md). Each start, the first one and each
    restart after a failure (its member lost: `NodeLost`), asks *strategy*
    for a live member with *role*, so a restarted actor is placed again on
    a member that is still there. A member that cannot be reached is
    skipped for the next one.
    """

    def __init__(self, cluster: Cluster, strategy: Strategy, role: str | None) -> None:
        self.cluster = cluster
        self.node = cluster.transport.node
        self.strategy = strategy
        self.role = role

    def __repr__(self) -> str:
        return f"<ClusterPlacement {self.strategy!r} role={self.role!r} in {self.cluster.name}>"

    def candidates(self) -> list[Peer]:
        """The other live members with the role, in the strategy's order."""
        members = [
            member
            for member in self.cluster.members()
            if member.node_id != self.cluster.node_id
            and (self.role is None or self.role in member.roles)
        ]
        return [
            Peer(self.node, member.node_id, member.address)
            for member in self.strategy.order(members)
        ]

    async def place(self, spawn_local: SpawnLocal, spec: SpawnSpec) -> ActorRef[Any]:
        """Placement protocol: start the actor on a member, behind a local stand-in.

        Raises:
            ClusterError: no other live member (with the role) could take it.
        """
        return await super().place(spawn_local, spec)

    async def spawn_remote(
        self,
        actor_class: type[Actor],
        args: tuple[object, ...],
        kwargs: dict[str, object],
        name: str | None,
    ) -> ActorRef[Any]:
        """Start the actor on the first member of the strategy's order that answers.

        Raises:
            ClusterError: no other live member (with the role) could take it.
        """
        tried = []
        for peer in self.candidates():
            try:
                return await peer.spawn_remote(actor_class, args, kwargs, name)
            except NodeLost:
                tried.append(peer.node_id)  # lost, not yet declared down: the next one
        role = f" with role {self.role!r}" if self.role else ""
        raise ClusterError(
            reason=f"no other live member{role} of cluster {self.cluster.name!r} could start "
            f"{actor_class.__name__} (tried: {', '.join(tried) or 'none'}); start members"
            f"{role} (Cluster.join(system, name=..., roles=...))"
        )

    async def link(self) -> Any:
        """Placements link per member, in `spawn_remote`.

        Raises:
            NodeLost: always (there is no single node).
        """
        raise NodeLost(node=f"cluster {self.cluster.name}")
