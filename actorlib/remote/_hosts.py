"""Placements on other nodes: a peer reached by address, and the stand-in they spawn."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import attrs

from actorlib import Actor, ActorRef, PoisonPill
from actorlib._transport import SpawnLocal, SpawnSpec

from ._errors import NodeLost
from ._stub import RemoteChild
from ._wire import LOOKUP

if TYPE_CHECKING:
    from ._link import Link
    from ._node import Node


class RemoteHostBase:
    """What peers and worker nodes share: spawning there, through a stand-in here."""

    node: Node

    async def link(self) -> Link:
        """The live link to that node (waiting for it, or dialing it, if needed).

        Raises:
            NodeLost: the node cannot be reached.
        """
        raise NotImplementedError

    async def place(self, spawn_local: SpawnLocal, spec: SpawnSpec) -> ActorRef[Any]:
        """Placement protocol: a local `RemoteChild` that starts the actor there.

        Raises:
            NodeLost: the node cannot be reached.
            Exception: what the actor's ``__init__`` raised there.
        """
        # The first remote actor is started here, so that what prevents it
        # (an __init__ that raises, a class the node refuses) is raised by
        # spawn() as for a local actor; the stand-in's later incarnations
        # start their own. It takes a fresh name there: its predecessor's
        # name is freed only once that node's guardian has seen it go.
        actor_class, args, kwargs = spec.actor_class, spec.args, spec.kwargs
        remote = await self.spawn_remote(actor_class, args, kwargs, None)
        first = [remote]
        try:
            stand_in = (self, actor_class, args, kwargs, None, first)
            return spawn_local(
                attrs.evolve(spec, actor_class=RemoteChild, args=stand_in, kwargs={})
            )
        except BaseException:
            self.stop_remote(remote)
            raise

    async def spawn_remote(
        self,
        actor_class: type[Actor],
        args: tuple[object, ...],
        kwargs: dict[str, object],
        name: str | None,
    ) -> ActorRef[Any]:
        """Start the actor on that node and return its (remote) ref.

        Raises:
            NodeLost: the node cannot be reached.
            SerializationError: the class or arguments cannot be pickled.
            Exception: what the actor's ``__init__`` raised there.
        """
        return await self.node.spawn_on(await self.link(), actor_class, args, kwargs, name)

    def stop_remote(self, ref: ActorRef[Any]) -> None:
        """Stop the remote actor after the messages already sent to it."""
        ref.tell(PoisonPill())


class Peer(RemoteHostBase):
    """Another node, reached by address: spawn there with ``spawn(..., node=peer)``.

    Attributes:
        node_id: the peer's node id.
        address: where it listens.
    """

    def __init__(self, node: Node, node_id: str, address: str) -> None:
        self.node = node
        self.node_id = node_id
        self.address = address

    def __repr__(self) -> str:
        return f"<Peer {self.node_id} at {self.address}>"

    async def link(self) -> Link:
        """The link to the peer, dialing its address again if it dropped.

        Raises:
            NodeLost: the peer cannot be reached.
        """
        link = self.node.link_for(self.node_id, self.address)
        if link is None:
            raise NodeLost(node=self.node_id)
        return link

    async def lookup(self, path: str) -> ActorRef[Any] | None:
        """The ref of the live actor at *path* on the peer (``/user/x``, or ``x``).

        Raises:
            TypeError: *path* is not a str.
            NodeLost: the peer cannot be reached.
        """
        if not isinstance(path, str):
            raise TypeError(f"lookup() expects a path string like '/user/name', got {path!r}")
        link = await self.link()
        ref: ActorRef[Any] | None = await self.node.request(
            link, lambda request: (LOOKUP, request, path), path
        )
        return ref


class NodeSet:
    """A placement that spreads actors over several nodes, one after the other.

    ``await system.spawn(Pool, Worker, 4, node=NodeSet(nodes))`` puts the
    pool's workers on the nodes in turn. Each actor stays with its node: if
    that node's process dies and is started again, RESTART recreates the actor
    there.

    Args:
        nodes: worker nodes or peers (at least one).

    Raises:
        ValueError: *nodes* is empty.
        TypeError: an entry is not a node.
    """

    def __init__(self, nodes: Iterable[RemoteHostBase]) -> None:
        self.nodes = list(nodes)
        if not self.nodes:
            raise ValueError("NodeSet needs at least one node, got none")
        for node in self.nodes:
            if not isinstance(node, RemoteHostBase):
                raise TypeError(f"NodeSet takes worker nodes or peers, got {node!r}")
        self._next = 0

    def __repr__(self) -> str:
        return f"NodeSet({self.nodes!r})"

    async def place(self, spawn_local: SpawnLocal, spec: SpawnSpec) -> ActorRef[Any]:
        """Placement protocol: place on the next node in turn.

        Raises:
            NodeLost: that node cannot be reached.
        """
        node = self.nodes[self._next % len(self.nodes)]
        self._next += 1
        return await node.place(spawn_local, spec)
