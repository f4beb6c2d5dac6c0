"""Pools as NATS queue groups: each message goes to one member, on whichever machine.

A group has no link: each message is sealed on its own (see `_nats_sealed`:
encrypted, bound to the group's subject, timestamped) and opened before
anything else happens to it. NATS hands each message to one subscriber of
the queue group, so members on several machines share the work; there is no
order between messages of one sender (they may go to different members).

A replay handed by NATS to another member node would pass any per-node
replay cache, so a member *claims* each message from its sender before
delivering it: the sender remembers the ids it sent within the freshness
window and grants each one once (to one claim token, so that a claim retried
after a lost answer is granted again, and nothing else). A replayed message
is refused by the sender, whichever member holds it. Claims are batched per
sender: while one claim is in flight, the next messages gather for the next.
"""

from __future__ import annotations

import functools
import logging
import math
import re
import secrets
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import anyio
import attrs
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from actorlib import ActorRef
from actorlib._messages import Envelope, ReplySlot

from ._errors import RemoteError
from ._nats_connect import wait_subscribed
from ._nats_inbox import Inbox
from ._nats_sealed import ID_BYTES, Refused, Sealer

if TYPE_CHECKING:
    from nats.aio.client import Client
    from nats.aio.msg import Msg

    from ._node import Node

logger = logging.getLogger("actorlib.remote")

_NODE_ID = re.compile(rb"[A-Za-z0-9_.\-]{1,200}")
_CLAIM_ENTRY = 2 * ID_BYTES  # message id, claim token
CLAIM_BATCH = 256  # message ids per claim request
CLAIM_WAIT = 5.0  # seconds a member tries to claim a message (tries of CLAIM_TRY)
CLAIM_TRY = 0.5
# The most ids a sender remembers for claims: messages in flight, not yet
# claimed. Beyond it, the oldest unclaimed one is forgotten (and will be
# refused): at most once, never twice.
ISSUED_CAPACITY = 65_536
# The most messages a member holds while it claims them from one sender;
# beyond, it waits for claims before it reads more.
HELD_CAPACITY = 10_000


@attrs.define
class _Issued:
    expiry: float  # wall clock: the message is stale after it
    token: bytes | None = None  # the claim token it was granted to


@attrs.define
class _Held:
    id: bytes
    token: bytes
    subject: str
    member: ActorRef[Any]
    payload: bytes
    reply: str


def _replay(sender: str) -> Refused:
    return Refused(
        f"a replay: its sender, node {sender}, refused the claim "
        f"(already granted to another member, or stale)",
        "replay",
    )


class Groups:
    """One node's queue groups: its memberships, its claims, a publisher for group messages."""

    def __init__(
        self,
        node: Node,
        client: Client,
        prefix: str,
        inbox: Inbox,
        *,
        freshness: float,
        wall: Callable[[], float],
    ) -> None:
        self.node = node
        self.client = client
        self.prefix = prefix
        self.inbox = inbox
        self.refusals = inbox.refusals
        self.sealer = Sealer(node.secret, prefix, "group", freshness=freshness, wall=wall)
        self.claims = Sealer(node.secret, prefix, "claim", freshness=freshness, wall=wall)
        self.claim_subject = self._claim_subject(node.node_id)
        # Invariant: in sending order, so expiries are (nearly) ascending.
        self._issued: dict[bytes, _Issued] = {}
        self._held: dict[str, list[_Held]] = {}
        self._claiming: set[str] = set()
        self._claimed = anyio.Event()  # set (and replaced) after each claim
        outbox: tuple[
            MemoryObjectSendStream[tuple[str, bytes, str]], MemoryObjectReceiveStream[Any]
        ]
        outbox = anyio.create_memory_object_stream[tuple[str, bytes, str]](math.inf)
        self._outbox, self._inbox = outbox
        node.system._start_runtime_task(self._publish_all)

    def _claim_subject(self, node_id: str) -> str:
        return f"{self.prefix}.claim.{node_id}"

    async def start(self) -> None:
        """Answer claims for the group messages this node sends."""
        await self.client.subscribe(self.claim_subject, cb=self._on_claim)

    def subject(self, name: str) -> str:
        """The subject of group *name*."""
        return f"{self.prefix}.group.{name}"

    async def _publish_all(self) -> None:
        with self._inbox:
            async for subject, data, reply in self._inbox:
                try:
                    await self.client.publish(subject, data, reply=reply)
                except Exception as error:  # the connection is closing: nobody to tell
                    logger.info("could not publish to %s: %r", subject, error)

    def _queue(self, subject: str, data: bytes, reply: str = "") -> None:
        try:
            self._outbox.send_nowait((subject, data, reply))
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            pass  # the transport is stopping

    def body(self, payload: bytes) -> bytes:
        """A group message's body: this node's id (to claim it from), then *payload*."""
        return self.node.node_id.encode() + b"\n" + payload

    def send(self, subject: str, payload: bytes) -> None:
        """Seal and queue a group tell (never blocks)."""
        message_id, data = self.sealer.seal("group", subject, self.body(payload))
        self.issue(message_id)
        self._queue(subject, data)

    def answer(self, inbox: str, request: bytes, payload: bytes) -> None:
        """Seal and queue the answer to group ask *request* (never blocks)."""
        _, data = self.sealer.seal("group answer", inbox, payload, answers=request)
        self._queue(inbox, data)

    def close(self) -> None:
        """Stop publishing."""
        self._outbox.close()

    # ------------------------------------------------------------ the sender's side

    def issue(self, message_id: bytes) -> None:
        """Remember a group message this node sends, for its member's claim."""
        issued = self._issued
        self._forget_stale()
        if len(issued) >= ISSUED_CAPACITY:
            del issued[next(iter(issued))]
            self.refusals.refuse(
                self.claim_subject,
                f"over {ISSUED_CAPACITY} group messages sent and not yet claimed: "
                f"the oldest will be refused to the member that claims it",
            )
        issued[message_id] = _Issued(self.sealer.wall() + self.sealer.freshness)

    def _forget_stale(self) -> None:
        issued, now = self._issued, self.sealer.wall()
        while issued:
            oldest = next(iter(issued))
            if issued[oldest].expiry >= now:
                return
            del issued[oldest]

    def _grant(self, message_id: bytes, token: bytes) -> bool:
        entry = self._issued.get(message_id)
        if entry is None:
            return False  # never sent by this node, or stale
        if entry.token is None:
            entry.token = token
        return entry.token == token  # granted once; again only to a retry of that claim

    async def _on_claim(self, msg: Msg) -> None:
        limit = CLAIM_BATCH * _CLAIM_ENTRY
        try:
            opened = self.claims.open(
                "claim", self.claim_subject, msg.data, limit=limit, reply=msg.reply or ""
            )
            body = opened.body
            if not msg.reply or not body or len(body) % _CLAIM_ENTRY:
                raise Refused("a malformed claim")
        except Refused as error:
            self.refusals.refuse(self.claim_subject, error)
            return
        self._forget_stale()
        granted = bytes(
            self._grant(body[i : i + ID_BYTES], body[i + ID_BYTES : i + _CLAIM_ENTRY])
            for i in range(0, len(body), _CLAIM_ENTRY)
        )
        _, data = self.claims.seal("claim answer", msg.reply, granted, answers=opened.id)
        try:
            await self.client.publish(msg.reply, data)
        except Exception as error:  # the connection is closing: the claimer will give up
            logger.info("could not answer a claim: %r", error)

    # ------------------------------------------------------------ the member's side

    async def join(self, name: str, member: ActorRef[Any]) -> None:
        """Make the local actor *member* one of the members of group *name*."""
        subject = self.subject(name)

        async def receive(msg: Msg) -> None:
            await self._receive(subject, member, msg)

        await self.client.subscribe(subject, queue=name, cb=receive)
        # A member from now on, for every client.
        await wait_subscribed(self.client, timers=self.node.system.timer_queue)

    async def _receive(self, subject: str, member: ActorRef[Any], msg: Msg) -> None:
        reply = msg.reply or ""
        try:
            opened = self.sealer.open(
                "group", subject, msg.data, limit=self.node.max_frame + 256, reply=reply
            )
            sender, _, payload = opened.body.partition(b"\n")
            if not _NODE_ID.fullmatch(sender):
                raise Refused("its sender is not a node id")
        except Refused as error:
            self.refusals.refuse(subject, error)
            return
        node = sender.decode()
        # Backpressure on a burst: this subscription waits (nats-py buffers
        # what follows, within its pending limits) while claims catch up.
        while len(self._held.get(node, ())) >= HELD_CAPACITY:
            await self._claimed.wait()
        token = secrets.token_bytes(ID_BYTES)
        self._held.setdefault(node, []).append(
            _Held(opened.id, token, subject, member, payload, reply)
        )
        if node not in self._claiming:
            self._claiming.add(node)
            self.node.system._start_runtime_task(functools.partial(self._claim_all, node))

    async def _claim_all(self, sender: str) -> None:
        try:
            while held := self._held.pop(sender, None):
                for start in range(0, len(held), CLAIM_BATCH):
                    batch = held[start : start + CLAIM_BATCH]
                    granted = await self._claim(sender, batch)
                    self._claimed.set()
                    self._claimed = anyio.Event()
                    for message, ok in zip(batch, granted, strict=True):
                        if ok:
                            self._deliver(message)
                        else:
                            self.refusals.refuse(message.subject, _replay(sender))
        finally:
            self._claiming.discard(sender)

    async def _claim(self, sender: str, batch: list[_Held]) -> list[bool]:
        body = b"".join(message.id + message.token for message in batch)
        try:
            answer = await self.inbox.request(
                self._claim_subject(sender),
                self.claims,
                "claim",
                body,
                limit=len(batch),
                wait=CLAIM_WAIT,
                per_try=CLAIM_TRY,
            )
        except Exception as error:  # timeout, no responders, closed: refused, not delivered
            self.refusals.refuse(
                batch[0].subject,
                f"cannot claim {len(batch)} message(s) from their sender, node {sender}: {error!r}",
            )
            return [False] * len(batch)
        if len(answer.body) != len(batch):
            return [False] * len(batch)
        return [granted == 1 for granted in answer.body]

    def _deliver(self, held: _Held) -> None:
        node = self.node
        try:
            decoded = node.serializer.loads(held.payload, node)
            if not (isinstance(decoded, tuple) and len(decoded) == 2):
                raise RemoteError(reason="not a (message, sender) pair")
            message, sender = decoded
            if sender is not None and not isinstance(sender, ActorRef):
                raise RemoteError(reason=f"its sender is not a ref: {sender!r}")
        except RemoteError as error:
            logger.error("dropped a message on %s: %s", held.subject, error)
            return
        if not held.reply:
            held.member._target.tell(message, sender)
            return
        slot = _GroupReplySlot(message, held.member, self, held.reply, held.id)
        try:
            held.member._target.post(Envelope(message, sender, slot))
        except Exception as error:
            slot.set_error(error)


class _GroupReplySlot(ReplySlot):
    """Completing it publishes the sealed answer to the asker's NATS inbox."""

    __slots__ = ("groups", "inbox", "request")

    def __init__(
        self,
        message: object,
        recipient: ActorRef[Any],
        groups: Groups,
        inbox: str,
        request: bytes,
    ) -> None:
        super().__init__(message, recipient)
        self.groups = groups
        self.inbox = inbox
        self.request = request

    def _completed(self) -> None:
        super()._completed()
        node = self.groups.node
        ok = self._error is None
        try:
            payload = node.serializer.dumps((ok, self._value if ok else self._error), node)
        except RemoteError as error:
            payload = node.serializer.dumps((False, error), node)
        self.groups.answer(self.inbox, self.request, payload)
