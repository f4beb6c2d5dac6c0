"""A node: this system's presence on the network (its links, refs and hosted actors).

The node knows links and frame channels, never sockets or NATS: transports
hand it authenticated channels (`attach`) and a way to dial a peer by address.
"""

from __future__ import annotations

import functools
import logging
import re
import secrets
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import anyio

from actorlib import ActorRef
from actorlib._messages import ReplySlot, Stop

from ._auth import PeerInfo, Session, handshake
from ._doubts import Doubts
from ._errors import NodeLost, RemoteError
from ._framing import FrameChannel
from ._inbound import InboundItems
from ._link import Link
from ._logsafe import loggable
from ._proxy import SCHEME, RemoteTarget
from ._sealed import SealedFrames
from ._serializer import RefId, Serializer
from ._traffic import LinkStatistics, RoundTripSink, Traffic
from ._wire import (
    SPAWN,
    Item,
)

if TYPE_CHECKING:
    from actorlib import ActorSystem

logger = logging.getLogger("actorlib.remote")

_NOT_IN_NODE_ID = re.compile(r"[^A-Za-z0-9_.\-]")

Dial = Callable[[str], Awaitable[FrameChannel]]

# A node that could not be dialed is not dialed again for a while: until
# then, asks to it fail with NodeLost at once and tells become dead letters,
# rather than one dial (and one warning) per message. The wait starts at
# DIAL_BACKOFF_MIN seconds and doubles with each failed dial, up to
# DIAL_BACKOFF_MAX; a link with the node (either way) forgets it.
DIAL_BACKOFF_MIN = 1.0
DIAL_BACKOFF_MAX = 30.0


def new_node_id(name: str) -> str:
    """A node id unique across restarts: the system's name and a random suffix.

    Characters a node id may not hold (see `check_node_id`) become '-'.
    """
    return f"{_NOT_IN_NODE_ID.sub('-', name)[:100]}-{secrets.token_hex(4)}"


class Node(InboundItems):
    """The links of one system to its peers, and what arrives over them."""

    def __init__(
        self,
        system: ActorSystem,
        *,
        node_id: str,
        address: str | None,
        secret: bytes,
        serializer: Serializer,
        max_frame: int,
        dial: Dial | None,
        heartbeat: float | None = None,
    ) -> None:
        self.system = system
        self.node_id = node_id
        self.address = address
        self.secret = secret
        self.serializer = serializer
        self.max_frame = max_frame
        self.dial = dial
        self.heartbeat = heartbeat  # seconds between frames on an idle link; None: none
        self.links: dict[str, Link] = {}
        self.traffic: dict[str, Traffic] = {}  # by peer node id, across reconnects
        # Each round trip measured on a link goes to these (set by the transport).
        self.round_trip_sinks: list[RoundTripSink] = []
        self.hosted: dict[str, set[ActorRef[Any]]] = {}
        self._peer_waiters: dict[str, anyio.Event] = {}
        self._proxies: dict[RefId, ActorRef[Any]] = {}
        # Local targets by (path, uid), for items that arrive: a cell that has
        # stopped since still dead-letters what it is told, so keeping it is safe.
        self._locals: dict[tuple[str, int], Any] = {}
        # node id -> (when it may be dialed again, the wait that led there)
        self._unreachable: dict[str, tuple[float, float]] = {}
        self.closing = False
        self.doubts = Doubts(self)

    # ------------------------------------------------------------ refs (RefCodec)

    def encode_ref(self, ref: ActorRef[Any]) -> RefId:
        """The persistent id of *ref*: its node, address, path and uid."""
        target = ref._target
        if type(target) is RemoteTarget:
            return target.ref_id
        return (self.node_id, self.address, target.path, target.uid)

    def decode_ref(self, ref_id: RefId) -> ActorRef[Any]:
        """A live local ref, or a ref to the actor on its own node."""
        node, _, path, uid = ref_id
        if node == self.node_id:
            return self.system.resolve(path, uid)
        ref = self._proxies.get(ref_id)
        if ref is None:
            if len(self._proxies) > 10_000:
                self._proxies.clear()
            ref = self._proxies[ref_id] = ActorRef(RemoteTarget(self, ref_id))
        return ref

    def resolve(self, path: str, uid: int) -> ActorRef[Any]:
        """RefResolver: plain-pickled refs, local (``/user/x``) or remote (``actorlib://``)."""
        if path.startswith(SCHEME):
            node, _, rest = path[len(SCHEME) :].partition("/")
            link = self.links.get(node)
            return self.decode_ref((node, link.address if link else None, "/" + rest, uid))
        return self.system.resolve(path, uid)

    # ------------------------------------------------------------ links

    async def attach(self, channel: FrameChannel, *, initiator: bool) -> Link:
        """Authenticate *channel*, seal it, and register its link; the caller runs it.

        Raises:
            AuthenticationError: the handshake failed (the channel is closed).
        """
        try:
            session = await self._handshake(channel, initiator=initiator)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await channel.aclose()
            raise
        link = self._register(session.peer)
        link.channel = SealedFrames(channel, session, clock=self.system.clock)
        return link

    async def _handshake(self, channel: FrameChannel, *, initiator: bool) -> Session:
        return await handshake(
            channel,
            self.secret,
            self.node_id,
            self.address,
            initiator=initiator,
            heartbeat=self.heartbeat,
            timers=self.system.timer_queue,
        )

    async def connect(self, channel: FrameChannel) -> Link:
        """Authenticate a channel this node opened and run its link in the runtime.

        Raises:
            AuthenticationError: the handshake failed (the channel is closed).
        """
        link = await self.attach(channel, initiator=True)
        self.system._start_runtime_task(link.run)
        return link

    def _register(self, peer: PeerInfo) -> Link:
        link = Link(self, peer.node, peer.address)
        link.traffic.links += 1
        # The first link to a peer carries everything this node sends there
        # (one link per sender: ordering); a second one, from a simultaneous
        # connect, is only read.
        existing = self.links.get(peer.node)
        if existing is None or existing.closed:
            self.links[peer.node] = link
        waiter = self._peer_waiters.pop(peer.node, None)
        if waiter is not None:
            waiter.set()
        logger.info("node %s linked with %s", self.node_id, peer.node)
        return link

    def traffic_with(self, peer: str) -> Traffic:
        """The traffic counters of *peer* (made at its first link)."""
        traffic = self.traffic.get(peer)
        if traffic is None:
            traffic = self.traffic[peer] = Traffic(peer, self.round_trip_sinks)
        return traffic

    def link_statistics(self) -> list[LinkStatistics]:
        """A snapshot per peer this node has had a link with, sorted by peer."""
        return [
            traffic.snapshot((link := self.links.get(peer)) is not None and not link.closed)
            for peer, traffic in sorted(self.traffic.items())
        ]

    async def wait_for_peer(self, node: str) -> Link:
        """Wait until *node* has linked with this one."""
        while (link := self.links.get(node)) is None or link.closed:
            waiter = self._peer_waiters.setdefault(node, anyio.Event())
            await waiter.wait()
        return link

    def link_for(self, node: str, address: str | None) -> Link | None:
        """The link to *node*, dialing *address* if there is none yet.

        None: unreachable (no address, or a dial failed a moment ago: see
        `DIAL_BACKOFF_MIN`).
        """
        link = self.links.get(node)
        if link is not None and not link.closed:
            return link
        if address is None or self.dial is None or self.closing:
            return None
        failed = self._unreachable.get(node)
        if failed is not None and self.system.clock.now() < failed[0]:
            return None
        link = self.links[node] = Link(self, node, address)
        self.system._start_runtime_task(functools.partial(self._dial, link, address))
        return link

    async def _dial(self, link: Link, address: str) -> None:
        # Items queue on the link while it connects; a failure fails them.
        assert self.dial is not None
        logger.debug("node %s dials %s at %s", self.node_id, loggable(link.peer), loggable(address))
        channel: FrameChannel | None = None
        try:
            channel = await self.dial(address)
            session = await self._handshake(channel, initiator=True)
        except BaseException as error:
            if channel is not None:
                with anyio.CancelScope(shield=True):
                    await channel.aclose()
            if not isinstance(error, OSError | RemoteError):
                raise
            wait = self._dial_failed(link.peer)
            logger.warning(
                "cannot reach node %s at %s: %s; messages to it fail for the next %g s",
                loggable(link.peer),
                loggable(address),
                loggable(error),
                wait,
            )
            link.close(error)
            return
        if session.peer.node != link.peer:
            wait = self._dial_failed(link.peer)
            logger.warning(
                "%s answered as node %s, not %s; messages to %s fail for the next %g s",
                loggable(address),
                loggable(session.peer.node),
                loggable(link.peer),
                loggable(link.peer),
                wait,
            )
            link.close(NodeLost(node=link.peer))
            await channel.aclose()
            return
        self._unreachable.pop(link.peer, None)
        link.channel = SealedFrames(channel, session, clock=self.system.clock)
        await link.run()

    def _dial_failed(self, node: str) -> float:
        """Remember that *node* could not be dialed; the seconds until it may be again."""
        unreachable = self._unreachable
        previous = unreachable.get(node)
        wait = DIAL_BACKOFF_MIN if previous is None else min(2 * previous[1], DIAL_BACKOFF_MAX)
        now = self.system.clock.now()
        if len(unreachable) >= 10_000:  # bounded: forget the ones whose wait is over
            for gone in [n for n, (until, _) in unreachable.items() if until <= now]:
                del unreachable[gone]
        unreachable[node] = (now + wait, wait)
        return wait

    def link_closed(self, link: Link) -> None:
        """Forget a closed link; stop the actors hosted for that peer."""
        if link.channel is not None:  # it was connected: the node is reachable
            self._unreachable.pop(link.peer, None)
        if self.links.get(link.peer) is link:
            del self.links[link.peer]
            if link.channel is not None:  # else it never connected: _dial said why
                # A peer that closes its end (its process stopped, or died) is
                # news, not a fault here; an error that ended the link is one.
                error = link.error
                if error is None or self.closing:
                    logger.info("node %s lost its link with %s", self.node_id, loggable(link.peer))
                else:
                    logger.warning(
                        "node %s lost its link with %s: %s",
                        self.node_id,
                        loggable(link.peer),
                        loggable(error),
                    )
        for ref in self.hosted.pop(link.peer, ()):
            ref._target.post_system(Stop(None))

    async def aclose(self) -> None:
        """Close every link."""
        self.closing = True
        for link in list(self.links.values()):
            link.close()

    # ------------------------------------------------------------ requests from this node

    async def request(self, link: Link, item: Callable[[int], Item], what: object) -> Any:
        """Send a request built by *item*(request id) and wait for its REPLY.

        Raises:
            NodeLost: the link dropped first.
            Exception: what the peer answered with.
        """
        slot = ReplySlot(what, ActorRef(RemoteTarget(self, (link.peer, None, "/", 0))))
        request = link.request(slot)
        link.enqueue(item(request), 0)
        return await slot.wait(self.system.ask_context[3])

    async def spawn_on(
        self,
        link: Link,
        actor_class: type,
        args: tuple[object, ...],
        kwargs: dict[str, object],
        name: str | None,
    ) -> ActorRef[Any]:
        """Spawn an actor on the peer of *link* (hosted under its ``/user``)."""
        payload = self.serializer.dumps((actor_class, args, kwargs, name), self)
        link.check_size(len(payload))
        ref: ActorRef[Any] = await self.request(link, lambda r: (SPAWN, r, payload), actor_class)
        return ref
