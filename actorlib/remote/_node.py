"""A node: this system's presence on the network (its links, refs and hosted actors).

The node knows links and frame channels, never sockets or NATS: transports
hand it authenticated channels (`attach`) and a way to dial a peer by address.
"""

from __future__ import annotations

import functools
import logging
import re
import secrets
import struct
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import anyio

from actorlib import ActorRef, Directive, MailboxFull, OneForOne, Terminated
from actorlib._deadletters import brief
from actorlib._messages import PENDING, Envelope, ReplySlot, Stop, Unwatch, Watch
from actorlib._transport import SpawnSpec

from ._auth import PeerInfo, Session, handshake
from ._errors import NodeLost, RemoteError, SerializationError
from ._framing import FrameChannel
from ._link import Link
from ._logsafe import loggable
from ._proxy import SCHEME, LinkReplySlot, RemoteTarget
from ._sealed import SealedFrames
from ._serializer import PLAIN_DECODE, RefId, Serializer
from ._wire import (
    ASK,
    LOOKUP,
    NOTICE,
    REFUSED,
    REPLY,
    SEND,
    SPAWN,
    STOP,
    TELL,
    UNWATCH,
    WATCH,
    Item,
)

if TYPE_CHECKING:
    from actorlib import ActorSystem

logger = logging.getLogger("actorlib.remote")

_NOT_IN_NODE_ID = re.compile(r"[^A-Za-z0-9_.\-]")

Dial = Callable[[str], Awaitable[FrameChannel]]

# Actors spawned here for another node are stopped when they fail: the
# failure travels to the stand-in on their owner's node (its Terminated), and
# the owner's parent applies its own strategy there.
HOSTED_STRATEGY = OneForOne(max_restarts=0, decider=lambda error: Directive.STOP)

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


class Node:
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
        self.hosted: dict[str, set[ActorRef[Any]]] = {}
        self._peer_waiters: dict[str, anyio.Event] = {}
        self._proxies: dict[RefId, ActorRef[Any]] = {}
        # Local targets by (path, uid), for items that arrive: a cell that has
        # stopped since still dead-letters what it is told, so keeping it is safe.
        self._locals: dict[tuple[str, int], Any] = {}
        # node id -> (when it may be dialed again, the wait that led there)
        self._unreachable: dict[str, tuple[float, float]] = {}
        self.closing = False

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
        link.channel = SealedFrames(channel, session)
        return link

    async def _handshake(self, channel: FrameChannel, *, initiator: bool) -> Session:
        return await handshake(
            channel,
            self.secret,
            self.node_id,
            self.address,
            initiator=initiator,
            heartbeat=self.heartbeat,
        )

    async def connect(self, channel: FrameChannel) -> Link:
        """Authenticate a channel this node opened and run its link in the runtime.

        Raises:
            AuthenticationError: the handshake failed (the channel is closed).
        """
        link = await self.attach(channel, initiator=True)
        self.system.start_runtime_task(link.run)
        return link

    def _register(self, peer: PeerInfo) -> Link:
        link = Link(self, peer.node, peer.address)
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
        self.system.start_runtime_task(functools.partial(self._dial, link, address))
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
        link.channel = SealedFrames(channel, session)
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

    # ------------------------------------------------------------ items from peers

    def dispatch(self, link: Link, item: Item) -> None:
        """Handle one item that arrived on *link*."""
        kind = item[0]
        if kind == TELL:
            _, path, uid, sender, payload = item
            decode = PLAIN_DECODE.get(payload[0]) if payload else None
            if decode is not None and type(payload) is bytes:
                try:
                    message = decode(payload)
                except (ValueError, struct.error) as error:
                    raise SerializationError(what="a plain value", problem=str(error)) from None
            else:
                message = self.serializer.loads(payload, self)
            target = self._locals.get((path, uid))
            if target is None:
                target = self._local(path, uid)
            from_ref = None if sender is None else self.decode_ref(sender)
            try:
                target.tell(message, from_ref)
            except MailboxFull:
                # The teller is on another node: the tell fails alone, as a
                # dead letter here (never the link that carried it).
                self.system.dead_letter(message, ActorRef(target), from_ref)
        elif kind == ASK:
            self._ask(link, item)
        elif kind == REPLY:
            self._reply(link, item)
        elif kind in (WATCH, UNWATCH):
            _, path, uid, watcher = item
            message = Watch if kind == WATCH else Unwatch
            self.system.resolve(path, uid)._target.post_system(message(self.decode_ref(watcher)))
        elif kind == NOTICE:
            _, path, uid, payload = item
            notice = self.serializer.loads(payload, self)
            if isinstance(notice, Terminated):
                watcher = self.system.resolve(path, uid)
                link.watches.discard((watcher, notice.ref))
                watcher._target.post_system(notice)
        elif kind == SPAWN:
            self._spawn(link, item)
        elif kind == STOP:
            self._stop(link, item)
        elif kind == LOOKUP:
            _, request, path = item
            self._answer(link, request, self.system.lookup(path))
        elif kind == SEND:
            self._send(link, item)
        elif kind == REFUSED:
            self._refused(link, item)
        else:
            raise RemoteError(reason=f"unknown item kind {brief(kind)} from {link.peer}")

    def _local(self, path: str, uid: int) -> Any:
        if len(self._locals) > 10_000:
            self._locals.clear()
        target = self._locals[(path, uid)] = self.system.resolve(path, uid)._target
        return target

    def _answer(self, link: Link, request: int, value: object, *, ok: bool = True) -> None:
        slot = LinkReplySlot(
            None, ActorRef(RemoteTarget(self, (link.peer, None, "/", 0))), link, request
        )
        if ok:
            slot.set_result(value)
        else:
            assert isinstance(value, BaseException)
            slot.set_error(value)

    def _ask(self, link: Link, item: Item) -> None:
        _, path, uid, sender, payload, request = item
        try:
            message = self.serializer.loads(payload, self)
        except RemoteError as error:
            self._answer(link, request, error, ok=False)
            return
        ref = self.system.resolve(path, uid)
        slot = LinkReplySlot(message, ref, link, request)
        try:
            # An idle actor whose handler never awaits answers right here, in
            # the link's reader: the reply is queued without a worker's turn.
            answer = ref._target.post_ask(Envelope(message, self._sender(sender), slot))
        except Exception as error:
            slot.set_error(error)
        else:
            if answer is not PENDING:
                slot.set_result(answer)

    def _sender(self, sender: RefId | None) -> ActorRef[Any] | None:
        return None if sender is None else self.decode_ref(sender)

    def _reply(self, link: Link, item: Item) -> None:
        _, request, ok, payload = item
        slot = link.pending.pop(request, None)
        try:
            value = self.serializer.loads(payload, self)
        except RemoteError as error:
            if slot is None or slot.done:
                raise
            # Refused here (a restricted serializer): the asker learns why
            # now, rather than waiting for a reply that never comes.
            error.add_note(f"(the reply from {link.peer} to an ask of {slot.recipient.path})")
            slot.set_error(error)
            return
        if slot is None or slot.done:
            self.system.dead_letter(value, None, None)
        elif ok:
            slot.set_result(value)
        elif isinstance(value, BaseException):
            slot.set_error(value)
        else:
            slot.set_error(RemoteError(reason=f"{link.peer} answered with an error {brief(value)}"))

    def _spawn(self, link: Link, item: Item) -> None:
        _, request, payload = item
        try:
            spec = self.serializer.loads(payload, self)
            if not (isinstance(spec, tuple) and len(spec) == 4):
                raise RemoteError(reason=f"{link.peer} sent a malformed spawn request")
            actor_class, args, kwargs, name = spec
            guardian = self.system._guardian
            assert guardian is not None
            ref = self.system._spawn_under(
                guardian, SpawnSpec(actor_class, args, kwargs, name, None, HOSTED_STRATEGY)
            )
        except Exception as error:
            self._answer(link, request, error, ok=False)
            return
        hosted = self.hosted.setdefault(link.peer, set())
        if len(hosted) >= 1024:  # forget the ones that have stopped since
            hosted.difference_update([r for r in hosted if self.system.lookup(r.path) != r])
        hosted.add(ref)
        self._answer(link, request, ref)

    def _stop(self, link: Link, item: Item) -> None:
        _, path, uid, request = item
        target = self.system.resolve(path, uid)._target
        wait_stopped = getattr(target, "wait_stopped", None)
        if wait_stopped is None or target is self.system._guardian:
            self._answer(link, request, None)  # gone already (or never stoppable from afar)
            return
        target.post_system(Stop(None))

        async def answer_when_stopped() -> None:
            await wait_stopped()
            self._answer(link, request, None)

        self.system.start_runtime_task(answer_when_stopped)

    def _send(self, link: Link, item: Item) -> None:
        _, path, uid, sender, payload, request = item
        try:
            message = self.serializer.loads(payload, self)
        except RemoteError as error:
            self._answer(link, request, error, ok=False)  # the sender's send() raises it
            return
        target = self.system.resolve(path, uid)._target
        envelope = Envelope(message, self._sender(sender))

        async def post_then_ack() -> None:
            try:
                await target.post_wait(envelope)
            except Exception as error:
                self._answer(link, request, error, ok=False)
            else:
                self._answer(link, request, None)

        self.system.start_runtime_task(post_then_ack)

    def _refused(self, link: Link, item: Item) -> None:
        # The peer refused one of our tells: it is a dead letter here, where
        # it was sent. Its letter is still in `unacked` (this frame's ack is
        # applied after its items) and is blanked so that a close cannot
        # dead-letter it a second time.
        _, seq, tell, reason = item
        for sent, letters in link.unacked:
            if sent == seq:
                if 0 <= tell < len(letters) and letters[tell][1] is not None:
                    message, recipient = letters[tell]
                    letters[tell] = (None, None)
                    logger.warning(
                        "node %s refused a tell to %s: %.300s", link.peer, recipient.path, reason
                    )
                    self.system.dead_letter(message, ActorRef(recipient), None)
                return
