"""A region: one actor per entity kind on each member, routing messages and hosting activations.

A message to an entity goes to the local region of its kind. If the key
is active here, the region hands the message to the activation. If not,
it reads the key's lease: a live lease names the member whose region
gets the message; a free key is activated here (the lease taken by
compare-and-set) if this member is the preferred host among the members
of the kind, or sent to the preferred one. Remote holders are cached; a
member that is lost is forgotten, and a stale route is corrected by the
region it reaches (which routes again), within `MAX_HOPS`.

An activation whose preferred host is another member (one that joined
since) is handed off, a bounded number per second: it gets a `PoisonPill`
behind the messages it has, the messages that come meanwhile are held,
and once it has stopped and its lease is released they go to that member,
which activates the key with its persisted state.
"""

from __future__ import annotations

import functools
import logging
from typing import TYPE_CHECKING, Any

import anyio

from actorlib import Actor, ActorRef, Directive, OneForOne, PoisonPill, Terminated
from actorlib._clock import move_on_after

from ._activation import Activation, Phase
from ._entity import _CONTEXTS
from ._errors import ClusterError, LeaseLost
from ._handoff import deliver, fail, take_current
from ._lease import MAX_LEASE, Holder, Lease, lease_key
from ._members import MemberDown
from ._placement import preferred
from ._rebalance import Mover, misplaced
from ._region_messages import EntityMessage, _Fenced, _Reroute, _Stale, _Sweep

if TYPE_CHECKING:
    from actorlib._messages import Envelope

    from ._shard import Shard

logger = logging.getLogger("actorlib.cluster")

# How many times a message may be passed between regions before it fails:
# sender's region -> preferred member -> (a holder that changed meanwhile).
MAX_HOPS = 4


def _decide(error: BaseException) -> Directive:
    # A lost lease is fenced for good: resumed, the activation handles nothing
    # more, and gives back what it still has queued (the guard in `_entity`)
    # while the region stops it with a PoisonPill; stopped at once, those
    # messages would die with it. Any other failure restarts it (a fresh
    # instance, same lease), as a local child would be.
    return Directive.RESUME if isinstance(error, LeaseLost) else Directive.RESTART


class Region(Actor):
    """The region of one entity kind on this member (internal; see the module docstring)."""

    supervisor_strategy = OneForOne(decider=_decide)

    def __init__(self, shard: Shard) -> None:
        self.shard = shard
        self.active: dict[str, Activation] = {}
        self.by_ref: dict[ActorRef[Any], str] = {}
        # Where keys active elsewhere are: key -> (member's node id, its region).
        self.routes: dict[str, tuple[str, ActorRef[Any]]] = {}
        # Rebalancing: the hosts the active keys were last checked against, the keys
        # activated since, and the keys waiting to be handed off.
        self.placed: frozenset[str] = frozenset()
        self.fresh: set[str] = set()
        self.mover: Mover | None = None
        # Keys handed off from here, and when: for a lease's ttl, a message that
        # still comes here for one goes to its preferred member (see `_route`).
        self.handed: dict[str, float] = {}

    def _now(self) -> float:
        return self.context.system.clock.now()  # the Clock seam: virtual under simulation

    async def on_start(self) -> None:
        self.context.system.events.subscribe(self.ref, MemberDown)
        self.context.timers.start_periodic("sweep", _Sweep(), self.shard.timing.renew_every / 2)
        self.shard.start_renewer(self.ref)
        if self.shard.moves_per_second is not None:
            self.mover = Mover(self.shard.moves_per_second, self._now())

    async def on_stop(self) -> None:
        for key, activation in self.active.items():
            if activation.phase is Phase.ENDED:
                continue
            await self._release(activation)
            self.shard.stopped(key, activation.context.token, "left")
        self.active.clear()

    async def receive(self, message: object) -> None:
        match message:
            case EntityMessage():
                await self._route(message, take_current(self.context))
            case _Stale(key=key, node=node):
                if self.routes.get(key, ("", None))[0] == node:
                    del self.routes[key]
            case Terminated(ref=ref):
                await self._ended(ref)
            case _Reroute(key=key):
                await self._reroute(key)
            case _Sweep():
                self._sweep()
            case _Fenced(key=key):
                activation = self.active.get(key)
                if activation is not None:
                    self._stop(activation, "lease lost")
            case MemberDown(member=member):
                lost = member.node_id
                for key in [key for key, (node, _) in self.routes.items() if node == lost]:
                    del self.routes[key]

    async def _route(self, message: EntityMessage, envelope: Envelope) -> None:
        key = message.key
        returned, message.returned = message.returned, False
        activation = self.active.get(key)
        if activation is not None:
            if not activation.context._lease.valid():
                self._stop(activation, "lease lost")
            if activation.phase is not Phase.ACTIVE:
                if returned:
                    activation.held.insert(activation.returned, (message, envelope))
                    activation.returned += 1
                else:
                    activation.held.append((message, envelope))
                return
            activation.last_used = self._now()
            deliver(activation.ref, message.message, envelope)
            return
        if message.via is not None:  # its sender's route is stale (the key moved, say)
            message.via.tell(_Stale(key, self.shard.node_id))
            message.via = None
        if message.hops >= MAX_HOPS:
            error = ClusterError(
                reason=f"a message for entity {self.shard.kind}/{key!r} was passed between "
                f"{MAX_HOPS} members without finding its activation (members joining or "
                f"leaving); send it again"
            )
            fail(self.context.system, self.ref, envelope, error)
            return
        # A key handed off from here: a message may still come, passed on by a
        # member that read the lease before it was released (the newcomer
        # itself, say). `_host_for` would activate it here again (a message
        # passed twice stays where it is) and the key would move twice: it
        # goes to the preferred member instead, as the held messages did. Not
        # on its last hop: if the release failed (the lease then names this
        # member until it expires), the message is served here, not failed.
        if (
            key in self.handed
            and message.hops < MAX_HOPS - 1
            and self._to_preferred(message, envelope)
        ):
            return
        cached = self.routes.get(key)
        if cached is not None and message.hops == 0:
            message.via = self.ref
            self._pass(cached[1], message, envelope)
            return
        try:
            await self._resolve(message, envelope)
        except ClusterError as error:
            fail(self.context.system, self.ref, envelope, error)

    def _pass(self, region: ActorRef[Any], message: EntityMessage, envelope: Envelope) -> None:
        message.hops += 1
        deliver(region, message, envelope)

    async def _resolve(self, message: EntityMessage, envelope: Envelope) -> None:
        shard, key = self.shard, message.key
        for _ in range(3):  # each lost compare-and-set means the key moved: read again
            found = await shard.bucket.read(lease_key(shard.kind, key), limit=MAX_LEASE)
            holder = (
                None if found is None or found.plaintext is None else Holder.decode(found.plaintext)
            )
            if holder is not None and holder.node != shard.node_id:
                region = shard.node.decode_ref(holder.region)
                if holder.node in shard.membership.members:
                    # Cached until that member is down; never a route to one already
                    # down (its lease outlives it by up to `ttl`): read again next time.
                    self.routes[key] = (holder.node, region)
                self._pass(region, message, envelope)
                return
            host = self._host_for(key, hops=message.hops)
            if host != shard.node_id:
                self._pass(shard.region_of(host), message, envelope)
                return
            expect = 0 if found is None else found.revision
            activation = await self._activate(key, expect)
            if activation is not None:
                self.routes.pop(key, None)
                deliver(activation.ref, message.message, envelope)
                return
        raise ClusterError(
            reason=f"entity {shard.kind}/{key!r}: its lease changed hands three times while "
            f"routing a message; send it again"
        )

    def _host_for(self, key: str, *, hops: int) -> str:
        """Which member should activate a free *key*: the preferred one, or this one.

        A message another member sent here by a stale route (say, to the member
        that handed the key off) goes on to the preferred member once; after
        that it is activated where it is, so that members whose views of the
        members differ for a moment do not pass it back and forth.
        """
        shard = self.shard
        hosts = shard.hosts()
        chosen = preferred(shard.kind, key, hosts)
        if shard.hosting and (not hosts or hops >= 2 or (hops == 1 and chosen == shard.node_id)):
            return shard.node_id
        if chosen is None:
            raise ClusterError(
                reason=f"no member hosts entity kind {shard.kind!r}"
                + (f" with role {shard.role!r}" if shard.role else "")
                + f"; call `await cluster.register({shard.cls.__name__}, ...)` on a member "
                f"that has the role"
            )
        return chosen

    async def _activate(self, key: str, expect: int) -> Activation | None:
        shard = self.shard
        lease = Lease(
            shard.bucket,
            lease_key(shard.kind, key),
            shard.timing,
            shard.holder(self.ref),
            timers=self.context.system.timer_queue,
        )
        if not await lease.acquire(expect):
            return None
        context = shard.context(key, lease)
        context._hand_back = functools.partial(self._hand_back, key)
        try:
            await context.restore()
            name = "e-" + key.encode().hex()
            _CONTEXTS[(id(self.context.system), f"{self.ref.path}/{name}")] = context
            ref = await self.context.spawn(shard.cls, name=name)
        except BaseException:
            _CONTEXTS.pop((id(self.context.system), f"{self.ref.path}/{name}"), None)
            with anyio.CancelScope(shield=True):
                await lease.release()
            raise
        self.context.watch(ref)
        self.handed.pop(key, None)
        activation = Activation(ref, context, self._now())
        self.active[key] = activation
        self.by_ref[ref] = key
        self.fresh.add(key)
        shard.leases[key] = lease
        shard.started(key, lease.revision)
        return activation

    def _hand_back(self, key: str, envelope: Envelope) -> None:
        """An activation of *key* got a message after its lease ended: route it again.

        Called in the activation's task; the message comes through this
        region's mailbox, marked, to go ahead of those held meanwhile.
        """
        deliver(self.ref, EntityMessage(key, envelope.message, returned=True), envelope)

    def _stop(self, activation: Activation, reason: str) -> None:
        if activation.phase in (Phase.STOPPING, Phase.ENDED):
            return
        # Handed off: its PoisonPill is queued already.
        pill_sent = activation.phase is Phase.DRAINING
        activation.move(Phase.STOPPING)
        activation.reason = reason
        # Fenced, it handles nothing more: the messages still in its mailbox come
        # back (see `_hand_back`) before the pill stops it, rather than dying with
        # it as dead letters, and are routed again once it has ended.
        activation.context._lease.fence()
        if not pill_sent:
            activation.ref.tell(PoisonPill())

    def _sweep(self) -> None:
        now = self._now()
        idle = self.shard.idle_timeout
        for activation in self.active.values():
            if not activation.context._lease.valid():
                self._stop(activation, "lease lost")
            elif idle is not None and now - activation.last_used >= idle:
                self._stop(activation, "idle")
        if self.mover is not None:
            self._rebalance(self.mover, now)
        ttl = self.shard.timing.ttl
        self.handed = {key: at for key, at in self.handed.items() if now - at < ttl}

    def _rebalance(self, mover: Mover, now: float) -> None:
        """Queue the active keys whose preferred host changed; hand off as many as allowed."""
        shard = self.shard
        hosts = frozenset(shard.hosts())
        check = set(self.active) if hosts != self.placed else self.fresh & set(self.active)
        self.placed, self.fresh = hosts, set()
        mover.add(misplaced(shard.kind, sorted(check), hosts, shard.node_id))
        if not mover.pending:
            return
        for key in mover.take(now):
            activation = self.active.get(key)
            # Checked again: it may have stopped, or the member gone, since it was queued.
            if (
                activation is not None
                and activation.phase is Phase.ACTIVE
                and misplaced(shard.kind, [key], shard.hosts(), shard.node_id)
            ):
                activation.move(Phase.DRAINING)
                activation.reason = "rebalanced"
                activation.ref.tell(PoisonPill())

    async def _ended(self, ref: ActorRef[Any]) -> None:
        key = self.by_ref.pop(ref, None)
        if key is None:
            return
        activation = self.active[key]
        lease = activation.context._lease
        if activation.reason == "failed" and not lease.valid():
            activation.reason = "lease lost"  # its own handler met the deadline
        # Published first: the activation has stopped; the release may take a
        # NATS timeout (a member cut off from the server).
        self.shard.stopped(key, activation.context.token, activation.reason)
        await self._release(activation)
        if activation.reason == "rebalanced":
            self.handed[key] = self._now()
        # Terminated came ahead of the user messages queued here (the system lane
        # goes first), among them what the activation gave back before it ended:
        # the held messages are routed once those have joined them, in order.
        activation.move(Phase.ENDED)
        self.ref.tell(_Reroute(key))

    async def _reroute(self, key: str) -> None:
        activation = self.active.pop(key)
        for message, envelope in activation.held:
            if activation.reason == "rebalanced":
                await self._hand_on(message, envelope)
            else:
                await self._route(message, envelope)

    async def _hand_on(self, message: EntityMessage, envelope: Envelope) -> None:
        """A message held while its key was handed off: to the key's preferred host.

        Not routed as usual: a message another member sent here would make
        this member activate the key again (``_host_for``).
        """
        if message.via is not None:  # its sender's route to this member is stale now
            message.via.tell(_Stale(message.key, self.shard.node_id))
            message.via = None
        if not self._to_preferred(message, envelope):
            await self._route(message, envelope)

    def _to_preferred(self, message: EntityMessage, envelope: Envelope) -> bool:
        """Pass *message* to its key's preferred member if that is another one; whether it did."""
        shard = self.shard
        host = preferred(shard.kind, message.key, shard.hosts())
        if host is None or host == shard.node_id:
            return False
        try:
            self._pass(shard.region_of(host), message, envelope)
        except ClusterError:  # it left meanwhile: route it as any message
            return False
        return True

    async def _release(self, activation: Activation) -> None:
        context = activation.context
        _CONTEXTS.pop((id(self.context.system), activation.ref.path), None)
        self.shard.leases.pop(context.key, None)
        # A lease lost to its deadline: NATS may be out of reach (a member cut
        # off), and a delete would wait a whole request timeout, and every other
        # key of the region with it. The lease expires by itself; a delete that
        # lands late is harmless (compare-and-set on this activation's revision).
        bound = self.shard.timing.renew_every if activation.reason == "lease lost" else None
        try:
            with move_on_after(self.context.system.timer_queue, bound):
                await context._lease.release()
        except ClusterError as error:  # it expires by itself
            logger.warning("cluster: releasing the lease of %s failed: %s", context.key, error)
