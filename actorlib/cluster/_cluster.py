"""The Cluster: joining, members, leaving; the entry point above the NATS transport."""

from __future__ import annotations

import math
import weakref
from collections.abc import Iterable
from types import TracebackType
from typing import TYPE_CHECKING, Any

import anyio

from actorlib import ActorRef, ActorSystem
from actorlib.remote import NatsTransport

from ._entity import Entity
from ._jetstream import JetStreamKV
from ._kv import Bucket
from ._lease import LeaseTiming
from ._members import ROLE, Member
from ._membership import Membership
from ._placing import ClusterPlacement
from ._rebalance import check_rate
from ._region import Region
from ._shard import Shard
from ._store import KeyValue
from ._strategies import RoundRobin, Strategy
from ._target import EntityTarget

if TYPE_CHECKING:
    from ._joining import Joining

# The default largest persisted state of an entity, in bytes (NATS's default
# max_payload is 1 MiB; a sealed value adds 29 bytes, headers a few more).
MAX_STATE = 512 * 1024
# Entity keys are at most this many bytes in UTF-8 (twice that in the KV key).
MAX_KEY = 256

# The default bound on declaring a silent member lost, in seconds (plus the
# server's expiry lateness, measured at 0.3 s at most).
DOWN_AFTER = 3.0

# The clusters joined on each system that have not left, for readers such as
# the dashboard (nothing here depends on it).
_joined: weakref.WeakKeyDictionary[ActorSystem, list[Cluster]] = weakref.WeakKeyDictionary()


def joined_clusters(system: ActorSystem) -> tuple[Cluster, ...]:
    """The clusters joined on *system* that have not left, in the order they joined.

    A cluster is listed from the moment `Cluster.join` returns it until its
    `Cluster.leave` begins: how a dashboard finds the clusters of a system
    without the user naming them (as `actorlib.jobs.open_queues` does for
    job queues).

    Raises:
        TypeError: *system* is not an ActorSystem.
    """
    if not isinstance(system, ActorSystem):
        raise TypeError(f"joined_clusters() expects an ActorSystem, got {system!r}")
    return tuple(_joined.get(system, ()))


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
        *,
        store: KeyValue | None = None,
    ) -> None:
        # Internal: *store* is the KeyValue seam to keep the cluster's bucket in
        # (a `MemoryKV` on the system's clock, for a simulated cluster); None
        # (what `Cluster.join` gives users) is JetStream through the transport's client.
        self.system = system
        self.name = name
        self.roles = roles
        self.transport = transport
        # When it joined, by the node's wall clock (shown, never compared for safety).
        self._joined = transport.wall()
        self._shards: dict[str, Shard] = {}
        self._regions: dict[str, ActorRef[Any]] = {}
        bucket = f"{transport.prefix}-cluster-{name}"
        # The JetStream bucket to open before joining; None for a store given.
        self._jetstream: JetStreamKV | None = None
        if store is None:
            client = transport._client
            assert client is not None
            store = self._jetstream = JetStreamKV(client.jetstream(), bucket)
        self._store: KeyValue = store
        self.bucket = Bucket(store, bucket, transport.secret)
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
        from ._joining import Joining  # here: `_joining` builds a Cluster

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
            kinds=frozenset(kind for kind, shard in self._shards.items() if shard.hosting),
            regions=tuple(
                (kind, self._regions[kind]._target.uid)
                for kind, shard in sorted(self._shards.items())
                if shard.hosting and kind in self._regions
            ),
        )

    @property
    def node_id(self) -> str:
        """This member's node id."""
        return self.transport.node_id

    def members(self) -> list[Member]:
        """The live members (this one included), by node id, as of their last heartbeats."""
        return sorted(self.membership.members.values(), key=lambda member: member.node_id)

    async def wait_members(
        self, count: int, *, hosting: type[Entity] | str | None = None
    ) -> list[Member]:
        """Wait until at least *count* live members are known; return them.

        Args:
            count: how many (this member included).
            hosting: count only the members that host this entity kind.

        Raises:
            ValueError: *count* is not a positive int.
        """
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ValueError(f"count must be an int >= 1, got {count!r}")
        kind = hosting if isinstance(hosting, str) or hosting is None else hosting.__name__
        changed = [anyio.Event()]

        def wake(event: object) -> None:
            changed[0].set()

        def matching() -> list[Member]:
            return [m for m in self.members() if kind is None or kind in m.kinds]

        self.membership.listeners.append(wake)
        try:
            while len(matching()) < count:
                changed[0] = anyio.Event()
                await changed[0].wait()
        finally:
            self.membership.listeners.remove(wake)
        return matching()

    async def register(
        self,
        cls: type[Entity],
        *,
        name: str | None = None,
        role: str | None = None,
        idle_timeout: float | None = 120.0,
        max_state: int = MAX_STATE,
        lease: LeaseTiming | None = None,
        moves_per_second: float | None = 10.0,
    ) -> None:
        """Make entity kind *cls* reachable from this member, and hosted here if the role fits.

        Call it on every member that sends to these entities or hosts them,
        with the same settings. A member hosts the kind when *role* is None
        or among its roles; the others only route messages to the hosts.

        Args:
            cls: an `Entity` subclass (instantiated with no arguments).
            name: the kind's name in the cluster (default: the class's name).
            role: only members with this role host the kind.
            idle_timeout: seconds without a message after which an activation
                stops (passivates); None keeps activations until their member leaves.
            max_state: the largest persisted state, in bytes.
            lease: the lease's timing and clock margins (see `LeaseTiming`).
            moves_per_second: how many activations this member hands off per
                second when a member that hosts the kind joins (None: none move).

        Raises:
            TypeError: *cls* is not an Entity subclass.
            ValueError: a bad name, role, idle_timeout or moves_per_second, or the kind is
                registered already.
        """
        if not (isinstance(cls, type) and issubclass(cls, Entity)):
            raise TypeError(
                f"register() expects an Entity subclass, got {cls!r}; "
                f"define `class {getattr(cls, '__name__', 'Cart')}(Entity): ...`"
            )
        kind = _check_name("an entity kind name", cls.__name__ if name is None else name)
        if role is not None:
            _check_name("role", role)
        if kind in self._shards:
            raise ValueError(f"entity kind {kind!r} is registered already on this member")
        if idle_timeout is not None and not (
            isinstance(idle_timeout, int | float)
            and math.isfinite(idle_timeout)
            and idle_timeout > 0
        ):
            raise ValueError(
                f"idle_timeout must be a number of seconds > 0 or None, got {idle_timeout!r}"
            )
        shard = Shard(
            kind,
            cls,
            bucket=self.bucket,
            transport=self.transport,
            membership=self.membership,
            timing=lease or LeaseTiming(),
            idle_timeout=idle_timeout,
            role=role,
            hosting=role is None or role in self.roles,
            max_state=max_state,
            moves_per_second=check_rate(moves_per_second),
        )
        self._shards[kind] = shard
        region = await self.system.spawn(Region, shard, name=shard.region_path.rsplit("/", 1)[1])
        self._regions[kind] = region
        await self.membership.beat()  # the others learn at once that this member hosts it

    def entity(self, cls: type[Entity] | str, key: str) -> ActorRef[Any]:
        """A ref to the entity *key* of kind *cls*: its first message activates it.

        Raises:
            ValueError: the kind is not registered on this member, or a bad key.
        """
        kind = cls if isinstance(cls, str) else getattr(cls, "__name__", "")
        region = self._regions.get(kind)
        if region is None:
            raise ValueError(
                f"entity kind {kind!r} is not registered on this member; "
                f"call `await cluster.register({kind or 'Kind'})` first"
            )
        if not isinstance(key, str) or not key or len(key.encode()) > MAX_KEY:
            raise ValueError(
                f"an entity key must be a non-empty str of at most {MAX_KEY} bytes, got {key!r}"
            )
        return ActorRef(EntityTarget(region, kind, key))

    def placement(
        self, strategy: Strategy | None = None, *, role: str | None = None
    ) -> ClusterPlacement:
        """A placement for ``spawn(..., node=...)``: another live member, chosen at each start.

        ``await self.context.spawn(Worker, node=cluster.placement(LeastLoaded()))``
        in an actor makes the remote worker its child, supervised like a local one.

        Args:
            strategy: `RoundRobin()` (default), `LeastLoaded()` or `ByRole(...)`.
            role: only members with this role.

        Raises:
            TypeError: *strategy* is not a placement strategy.
        """
        strategy = RoundRobin() if strategy is None else strategy
        if not isinstance(strategy, Strategy):
            raise TypeError(
                f"placement must be RoundRobin(), LeastLoaded() or ByRole(...), got {strategy!r}"
            )
        if role is not None:
            _check_name("role", role)
        return ClusterPlacement(self, strategy, role)

    async def spawn(
        self,
        actor_class: type[Any],
        *args: object,
        name: str | None = None,
        role: str | None = None,
        placement: Strategy | None = None,
        **kwargs: object,
    ) -> ActorRef[Any]:
        """Spawn an actor on another live member, as a child of the system's ``/user`` guardian.

        The same as ``system.spawn(actor_class, *args, node=cluster.placement(
        placement, role=role), name=name, **kwargs)``; from an actor, spawn
        with ``self.context.spawn(..., node=cluster.placement(...))`` to
        supervise it yourself.

        Raises:
            ClusterError: no other live member (with the role) could take it.
            TypeError: *placement* is not a placement strategy.
        """
        where = self.placement(placement, role=role)
        return await self.system.spawn(actor_class, *args, name=name, node=where, **kwargs)

    async def leave(self) -> None:
        """Leave the cluster: the other members see `MemberDown(..., "left")` at once.

        Idempotent.
        """
        if self._left:
            return
        self._left = True
        joined = _joined.get(self.system, [])
        if self in joined:
            joined.remove(self)
        for kind, region in self._regions.items():
            self._shards[kind].stop()
            await self.system.stop(region)  # passivates its activations, releasing their leases
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
