"""actorlib.cluster: members that know each other, on NATS with JetStream.

A system whose transport is a `NatsTransport` joins a cluster with
``await Cluster.join(system, name="shop")``. Members announce themselves in
a JetStream KV bucket (sealed with the cluster's secret) with heartbeats
that expire: ``cluster.members()`` lists the live ones, and `MemberUp` and
`MemberDown` are published on each member's event stream.
"""

from __future__ import annotations

from ._cluster import Cluster, joined_clusters
from ._entity import Entity, EntityContext
from ._errors import ClusterError, LeaseLost
from ._events import EntityStarted, EntityStopped
from ._joining import Joining
from ._lease import LeaseTiming
from ._members import Member, MemberDown, MemberUp
from ._placing import ClusterPlacement
from ._strategies import ByRole, LeastLoaded, RoundRobin, Strategy

__all__ = [
    "ByRole",
    "Cluster",
    "ClusterError",
    "ClusterPlacement",
    "Entity",
    "EntityContext",
    "EntityStarted",
    "EntityStopped",
    "Joining",
    "LeaseLost",
    "LeaseTiming",
    "LeastLoaded",
    "Member",
    "MemberDown",
    "MemberUp",
    "RoundRobin",
    "Strategy",
    "joined_clusters",
]
