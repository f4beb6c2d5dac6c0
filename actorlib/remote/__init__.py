"""actorlib.remote: actors in other processes and on other machines, behind the same ActorRef.

A system given a transport (``ActorSystem(..., transport=SocketTransport())``)
becomes a node: it can start worker processes (``await system.start_nodes(n)``)
and spawn actors there (``await system.spawn(Cls, node=worker)``), link with
nodes by address (``await transport.connect("tcp://127.0.0.1:7000")``), and
pass refs in messages from node to node. Every link is authenticated with a
shared secret before anything is unpickled, and every frame after that is
numbered and sealed with the link's own keys (encrypted on NATS).
"""

from __future__ import annotations

from ._base import NodeTransport
from ._errors import (
    AuthenticationError,
    FrameTooLarge,
    IntegrityError,
    NodeLost,
    RemoteError,
    SerializationError,
)
from ._hosts import NodeSet, Peer
from ._memory import MemoryNetwork, MemoryTransport
from ._nats import NatsTransport
from ._serializer import PickleSerializer, RestrictedSerializer, Serializer
from ._socket import SocketTransport
from ._stub import RemoteChild
from ._traffic import LinkStatistics
from ._workers import WorkerNode

__all__ = [
    "AuthenticationError",
    "FrameTooLarge",
    "IntegrityError",
    "LinkStatistics",
    "MemoryNetwork",
    "MemoryTransport",
    "NatsTransport",
    "NodeLost",
    "NodeSet",
    "NodeTransport",
    "Peer",
    "PickleSerializer",
    "RemoteChild",
    "RemoteError",
    "RestrictedSerializer",
    "SerializationError",
    "Serializer",
    "SocketTransport",
    "WorkerNode",
]
