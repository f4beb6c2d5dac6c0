"""Entities: actors named by a key, running under a lease; what an activation sees of it."""

from __future__ import annotations

import functools
import struct
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import anyio

from actorlib import Actor

from ._errors import ClusterError, LeaseLost
from ._handoff import take_current
from ._kv import Bucket
from ._lease import Lease, lease_key, state_key
from ._store import Conflict

if TYPE_CHECKING:
    from actorlib._messages import Envelope
    from actorlib.remote import Serializer
    from actorlib.remote._node import Node

_TOKEN = struct.Struct(">Q")
# Activations of this process, by (id of their system, path): how an
# Entity finds its context (set by its region before it is spawned).
_CONTEXTS: dict[tuple[int, str], EntityContext] = {}


class EntityContext:
    """What an entity activation knows of itself: its key, state and fencing token.

    Attributes:
        kind: the entity kind (the registered name).
        key: the entity's key (``cluster.entity(Kind, key)``).
        state: the state last persisted for this key, anywhere in the
            cluster (None if none): restored before ``on_start``.
    """

    def __init__(
        self,
        kind: str,
        key: str,
        lease: Lease,
        *,
        bucket: Bucket,
        serializer: Serializer,
        node: Node,
        max_state: int,
    ) -> None:
        self.kind = kind
        self.key = key
        self.state: object = None
        self._lease = lease
        self._bucket = bucket
        self._serializer = serializer
        self._node = node
        self._max_state = max_state
        # Set by its region: takes back a message this activation must not handle.
        self._hand_back: Callable[[Envelope], None] | None = None

    @property
    def token(self) -> int:
        """The activation's fencing token: the revision of its lease (rises with each renewal)."""
        return self._lease.revision

    async def persist(self, state: object) -> None:
        """Store *state* for this key; the next activation (on any member) gets it as `state`.

        The write is conditional, on the server, on this activation's lease
        still being the key's current lease: a stale activation (fenced,
        expired, replaced by a newer one) cannot overwrite newer state.

        Raises:
            LeaseLost: the lease is no longer held; the activation stops.
            ClusterError: the state is too large, or NATS failed.
            SerializationError: the state cannot be serialized.
        """
        payload = self._serializer.dumps(state, self._node)
        if len(payload) + _TOKEN.size > self._max_state:
            raise ClusterError(
                reason=f"the state of entity {self.kind}/{self.key!r} is {len(payload)} bytes, "
                f"over max_state ({self._max_state}); keep it smaller or raise "
                f"register(..., max_state=...) (within the server's max_payload)"
            )
        lease = self._lease
        async with lease.lock:
            if not lease.valid():
                lease.fence()  # for good, even if a renewal in flight lands late
                raise LeaseLost(reason=self._lost("its lease expired before the write"))
            try:
                await self._bucket.write(
                    state_key(self.kind, self.key),
                    _TOKEN.pack(lease.revision) + payload,
                    fence=(lease_key(self.kind, self.key), lease.revision),
                )
            except Conflict:
                lease.fence()
                raise LeaseLost(reason=self._lost("a newer lease holds the key")) from None
        self.state = state

    async def restore(self) -> None:
        """Load the last persisted state of the key (before the activation starts).

        Raises:
            ClusterError: NATS failed, or the stored state does not open.
        """
        key = state_key(self.kind, self.key)
        found = await self._bucket.read(key, limit=self._max_state)
        if found is None or found.marker:
            return
        if found.plaintext is None or len(found.plaintext) < _TOKEN.size:
            raise ClusterError(
                reason=f"the stored state of entity {self.kind}/{self.key!r} is not ours "
                f"(forged, moved or over max_state): refused"
            )
        self.state = self._serializer.loads(found.plaintext[_TOKEN.size :], self._node)

    def _lost(self, why: str) -> str:
        return (
            f"entity {self.kind}/{self.key!r} lost its lease ({why}); this activation stops "
            f"and the next message activates the key again"
        )


class Entity(Actor):
    """Base class of sharded entities: actors named by a key, one activation cluster-wide.

    Register a subclass with ``await cluster.register(Cart)``; reach an
    entity with ``cluster.entity(Cart, key)``. ``self.entity`` is its
    `EntityContext` (key, restored state, ``persist``). Each message is
    handled only while the activation's lease is valid, and a handler
    still running at its deadline is cancelled: it fails with `LeaseLost`
    and the activation stops.
    """

    @property
    def entity(self) -> EntityContext:
        """This activation's context (from ``on_start`` on).

        Raises:
            ClusterError: this actor was not started as an entity.
        """
        found = _CONTEXTS.get((id(self.context.system), self.ref.path))
        if found is None:
            raise ClusterError(
                reason=f"{type(self).__name__} at {self.ref.path} is not an entity activation; "
                f"reach entities with cluster.entity({type(self).__name__}, key), never spawn them"
            )
        return found

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        receive = cls.__dict__.get("receive")
        if receive is not None:
            cls.receive = _guarded(receive)  # type: ignore[method-assign,assignment]


def _guarded(
    receive: Callable[[Any, object], Awaitable[object]],
) -> Callable[[Any, object], Awaitable[object]]:
    @functools.wraps(receive)
    async def guarded(self: Entity, message: object) -> object:
        entity = self.entity
        lease = entity._lease
        if not lease.valid():
            if entity._hand_back is not None:
                # Not handled here, so not lost: its region stops this activation
                # and passes the message on to the key's next activation. Fenced
                # first: a renewal landing late must not make it valid again.
                lease.fence()
                entity._hand_back(take_current(self.context))
                return None
            raise LeaseLost(reason=entity._lost("not renewed in time"))
        # Cancelled by a timer on the Clock seam (virtual under simulation) at
        # the lease's deadline, which each renewal moves, or when it is fenced.
        with anyio.CancelScope() as scope:
            lease.guard(scope)
            try:
                return await receive(self, message)
            finally:
                lease.unguard(scope)
        lease.fence()  # for good: this activation handles nothing more (see `_decide`)
        raise LeaseLost(reason=entity._lost("its deadline passed while handling a message"))

    return guarded
