"""Two linked nodes over any transport: what the transport-parametrized remote tests share."""

from __future__ import annotations

from typing import Any

import attrs
import pytest

from actorlib import Actor, ActorRef, ActorSystem, Mailbox
from actorlib.remote import (
    MemoryNetwork,
    MemoryTransport,
    NatsTransport,
    NodeTransport,
    Peer,
    SocketTransport,
)
from tests.nats_server import NatsServer

from .conftest import SECRET

TRANSPORTS = ["memory", "unix", "tcp", "nats"]

_NETWORK = pytest.StashKey[MemoryNetwork]()


@attrs.define
class Pair:
    """Node A (where the test talks from) and node B (where the actors live)."""

    a: ActorSystem
    b: ActorSystem
    peer: Peer

    @property
    def transport_b(self) -> NodeTransport:
        """B's transport."""
        transport = self.b.transport
        assert isinstance(transport, NodeTransport)
        return transport

    async def spawn_on_b(
        self, cls: type[Actor], *args: object, name: str, mailbox: Mailbox | None = None
    ) -> ActorRef[Any]:
        """Spawn *cls* on B, and return A's ref to it."""
        await self.b.spawn(cls, *args, name=name, mailbox=mailbox)
        ref = await self.peer.lookup(name)
        assert ref is not None
        return ref


def make_transport(kind: str, request: pytest.FixtureRequest, **options: Any) -> NodeTransport:
    """A transport of *kind* with the tests' secret (the nodes of one test share a network)."""
    if kind == "nats":
        server: NatsServer = request.getfixturevalue("nats_server")
        return NatsTransport(server.url, secret=SECRET, lookup_timeout=10.0, **options)
    if kind == "memory":
        network = request.node.stash.setdefault(_NETWORK, MemoryNetwork())
        return MemoryTransport(network, secret=SECRET, **options)
    if kind == "unix":
        return SocketTransport(secret=SECRET, **options)
    return SocketTransport("tcp://127.0.0.1:0", secret=SECRET, **options)
