"""One entity kind on one member: its settings, its leases and their renewals; no routing."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import anyio

from ._entity import Entity, EntityContext
from ._errors import ClusterError
from ._events import EntityStarted, EntityStopped
from ._kv import Bucket
from ._lease import Holder, Lease, LeaseTiming, renew_forever
from ._region_messages import _Fenced

if TYPE_CHECKING:
    from actorlib import ActorRef
    from actorlib.remote import NatsTransport

    from ._membership import Membership

logger = logging.getLogger("actorlib.cluster")


class Shard:
    """The kind *kind* (class *cls*) on this member, shared by its region and its renewer."""

    def __init__(
        self,
        kind: str,
        cls: type[Entity],
        *,
        bucket: Bucket,
        transport: NatsTransport,
        membership: Membership,
        timing: LeaseTiming,
        idle_timeout: float | None,
        role: str | None,
        hosting: bool,
        max_state: int,
        moves_per_second: float | None = None,
    ) -> None:
        self.kind = kind
        self.cls = cls
        self.bucket = bucket
        self.transport = transport
        self.node = transport.node
        self.node_id = transport.node_id
        self.membership = membership
        self.timing = timing
        self.idle_timeout = idle_timeout
        self.role = role
        self.hosting = hosting
        self.max_state = max_state
        self.moves_per_second = moves_per_second
        self.leases: dict[str, Lease] = {}
        self.region: ActorRef[Any] | None = None
        self._renewing = False
        self._scope = anyio.CancelScope()

    def hosts(self) -> list[str]:
        """The live members that host this kind (by their last heartbeat)."""
        return [m.node_id for m in self.membership.members.values() if self.kind in m.kinds]

    def region_of(self, node_id: str) -> ActorRef[Any]:
        """The region of this kind on member *node_id*.

        Raises:
            ClusterError: that member is gone, or does not host the kind.
        """
        member = self.membership.members.get(node_id)
        uid = dict(member.regions).get(self.kind) if member is not None else None
        if member is None or uid is None:
            raise ClusterError(reason=f"member {node_id} no longer hosts {self.kind!r}; send again")
        path = self.region_path
        return self.node.decode_ref((node_id, member.address, path, uid))

    @property
    def region_path(self) -> str:
        """Where this kind's region lives on every member."""
        return f"/user/cluster-{self.membership.bucket.name}-{self.kind}"

    def holder(self, region: ActorRef[Any]) -> Holder:
        """This member, as the holder of a lease whose messages go to *region*."""
        node, address, path, uid = self.node.encode_ref(region)
        return Holder(self.node_id, (node, address, path, uid))

    def context(self, key: str, lease: Lease) -> EntityContext:
        """A new activation's context."""
        return EntityContext(
            self.kind,
            key,
            lease,
            bucket=self.bucket,
            serializer=self.transport.serializer,
            node=self.node,
            max_state=self.max_state,
        )

    def started(self, key: str, token: int) -> None:
        """An activation of *key* started here: `EntityStarted` on the event stream."""
        logger.debug("cluster: %s/%r activated on %s", self.kind, key, self.node_id)
        self.node.system.events.publish(EntityStarted(self.kind, key, self.node_id, token))

    def stopped(self, key: str, token: int, reason: str) -> None:
        """The activation of *key* here ended: `EntityStopped` on the event stream."""
        logger.debug("cluster: %s/%r stopped on %s (%s)", self.kind, key, self.node_id, reason)
        event = EntityStopped(self.kind, key, self.node_id, token, reason)  # type: ignore[arg-type]
        self.node.system.events.publish(event)

    def start_renewer(self, region: ActorRef[Any]) -> None:
        """Renew this member's leases of the kind in the background (once)."""
        if not self._renewing:
            self._renewing = True
            self.region = region
            self.transport.node.system._start_runtime_task(self._renew_forever)

    async def _renew_forever(self) -> None:
        with self._scope:
            timers = self.transport.node.system.timer_queue  # virtual under simulation
            await renew_forever(self.leases, self.timing, timers, self._lost)

    def _lost(self, key: str) -> None:
        if self.region is not None:
            self.region.tell(_Fenced(key))

    def stop(self) -> None:
        """Stop renewing."""
        self._scope.cancel()
