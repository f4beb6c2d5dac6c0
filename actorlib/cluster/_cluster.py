"""The Cluster: joining, members, leaving; the entry point above the NATS transport."""

from __future__ import annotations

import math
from collections.abc import Generator, Iterable
from types import TracebackType
from typing import TYPE_CHECKING, Any

from actorlib.remote import NatsTransport

from ._errors import ClusterError
from ._kv import Bucket
from ._members import ROLE, Member
from ._membership import Membership, wall

if TYPE_CHECKING:
    from actorlib import ActorSystem

# The default bound on declaring a silent member lost, in seconds (plus the
# server's expiry lateness, measured at 0.3 s at most).
DOWN_AFTER = 3.0


def _check_name(what: str, value: object) -> str:
    if not isinstance(value, str) or not ROLE.fullmatch(value):
        raise ValueError(
            f"{what} must be 1 to 64 letters, digits, '-' or '_' like 'shop', got {value!r}"
        )
    return value


class Cluster:
    """This member of a cluster: other members, their events, and (later) entities.

    Get one with ``await Cluster.join(system, name=...)`` or ``async with
    Cluster.join(system, name=...) as cluster:`` (which leaves on exit).

    Attributes:
        system: the member's actor system.
        name: the cluster's name.
        roles: this member's roles.
    """

    def __init__(
        self,
        system: ActorSystem,
        transport: NatsTransport,
        name: str,
        roles: frozenset[str],
        down_after: float,
    ) -> None:
        self.system = system
        self.name = name
        self.roles = roles
        self.transport = transport
        self._joined = wall()
        self._kinds: set[str] = set()
        client = transport._client
        assert client is not None
        self.bucket = Bucket(client.jetstream(), f"{transport.prefix}-cluster-{name}", transport.secret)
        self.membership = Membership(self.bucket, system, self._me, down_after=down_after)
        self._left = False

    @staticmethod
    def join(
        system: ActorSystem,
        *,
        name: str,
        roles: Iterable[str] = (),
        down_after: float = DOWN_AFTER,
    ) -> Joining:
        """Join the cluster *name* through the system's `NatsTransport`.

        Await it (``cluster = await Cluster.join(...)``, then ``await
        cluster.leave()``) or enter it (``async with Cluster.join(...) as
        cluster:``). It returns once this member is announced and the
        current members are known.

        Args:
            system: a running system whose transport is a `NatsTransport`.
            name: the cluster (one bucket ``<prefix>-cluster-<name>`` on the server).
            roles: this member's roles (``role=`` of `register` picks members by them).
            down_after: seconds of silence after which a member is declared lost
                (its heartbeat entry's TTL; heartbeats go every quarter of it).
                Whole seconds, at least 1 (JetStream's per-message TTLs).

        Raises:
            TypeError: the system's transport is not a `NatsTransport`.
            ValueError: a bad name, role or down_after.
            ClusterError: the server has no JetStream (or too old a version).
        """
        return Joining(system, name, roles, down_after)

    def _me(self) -> Member:
        stats = self.system.statistics()
        node_id = self.transport.node_id
        return Member(
            node_id=node_id,
            address=f"nats:{node_id}",
            roles=self.roles,
            joined=self._joined,
            actors=stats.actors,
            ready=stats.ready,
            kinds=frozenset(self._kinds),
        )

    @property
    def node_id(self) -> str:
        """This member's node id."""
        return self.transport.node_id

    def members(self) -> list[Member]:
        """The live members (this one included), by node id, as of their last heartbeats."""
        return sorted(self.membership.members.values(), key=lambda member: member.node_id)

    async def leave(self) -> None:
        """Leave the cluster: the other members see `MemberDown(..., "left")` at once.

        Idempotent.
        """
        if self._left:
            return
        self._left = True
        await self.membership.leave()

    async def __aenter__(self) -> Cluster:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.leave()


class Joining:
    """What `Cluster.join` returns: await it, or enter it with ``async with``."""

    def __init__(
        self, system: ActorSystem, name: str, roles: Iterable[str], down_after: float
    ) -> None:
        transport = getattr(system, "transport", None)
        if not isinstance(transport, NatsTransport):
            raise TypeError(
                f"Cluster.join() needs a system whose transport is a NatsTransport, got "
                f"{transport!r}; create it with ActorSystem(..., transport=NatsTransport(url, "
                f"secret=...))"
            )
        self._transport = transport
        self._system = system
        self._name = _check_name("name", name)
        if isinstance(roles, str):
            raise TypeError(f"roles must be an iterable of role names, got the string {roles!r}")
        self._roles = frozenset(_check_name("a role", role) for role in roles)
        if (
            isinstance(down_after, bool)
            or not isinstance(down_after, int | float)
            or not math.isfinite(down_after)
            or down_after < 1
            or down_after != round(down_after)
        ):
            raise ValueError(f"down_after must be whole seconds >= 1, got {down_after!r}")
        self._down_after = float(down_after)
        self._cluster: Cluster | None = None

    async def _join(self) -> Cluster:
        if self._transport._client is None:
            raise ClusterError(
                reason="Cluster.join() needs a running system: join inside "
                "`async with ActorSystem(...)`"
            )
        cluster = Cluster(self._system, self._transport, self._name, self._roles, self._down_after)
        await cluster.bucket.open()
        await cluster.membership.start()
        return cluster

    def __await__(self) -> Generator[Any, None, Cluster]:
        return self._join().__await__()

    async def __aenter__(self) -> Cluster:
        self._cluster = await self._join()
        return self._cluster

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._cluster is not None:
            await self._cluster.leave()
