"""Pools as NATS queue groups: each message goes to one member, on whichever machine.

A group has no link: each message is signed on its own (HMAC-SHA256 over the
subject and the payload, with the cluster's secret) and checked before it is
unpickled. NATS hands each message to one subscriber of the queue group, so
members on several machines share the work; there is no order between
messages of one sender (they may go to different members).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
from typing import TYPE_CHECKING, Any

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from actorlib import ActorRef
from actorlib._messages import PENDING, Envelope, ReplySlot
from actorlib._ref import AskContext

from ._errors import RemoteError

if TYPE_CHECKING:
    from nats.aio.client import Client
    from nats.aio.msg import Msg

    from ._node import Node

logger = logging.getLogger("actorlib.remote")

_MAC = 32
# How long a group ask waits for NATS at most; the ask's own timeout is
# enforced by its reply slot, usually much sooner.
_REQUEST_LIMIT = 3600.0


def sign(secret: bytes, subject: str, payload: bytes) -> bytes:
    """*payload* with its MAC in front."""
    mac = hmac.new(secret, subject.encode() + b"|" + payload, hashlib.sha256).digest()
    return mac + payload


def verify(secret: bytes, subject: str, data: bytes) -> bytes | None:
    """The payload, if its MAC is right; None otherwise."""
    mac, payload = data[:_MAC], data[_MAC:]
    expected = hmac.new(secret, subject.encode() + b"|" + payload, hashlib.sha256).digest()
    return payload if len(mac) == _MAC and hmac.compare_digest(mac, expected) else None


class Groups:
    """One node's queue groups: its memberships, and a publisher for group messages."""

    def __init__(self, node: Node, client: Client, prefix: str) -> None:
        self.node = node
        self.client = client
        self.prefix = prefix
        outbox: tuple[MemoryObjectSendStream[tuple[str, bytes]], MemoryObjectReceiveStream[Any]]
        outbox = anyio.create_memory_object_stream[tuple[str, bytes]](math.inf)
        self._outbox, self._inbox = outbox
        node.system.start_runtime_task(self._publish_all)

    def subject(self, name: str) -> str:
        """The subject of group *name*."""
        return f"{self.prefix}.group.{name}"

    async def _publish_all(self) -> None:
        with self._inbox:
            async for subject, data in self._inbox:
                try:
                    await self.client.publish(subject, data)
                except Exception as error:  # the connection is closing: nobody to tell
                    logger.info("could not publish to %s: %r", subject, error)

    def publish(self, subject: str, payload: bytes) -> None:
        """Sign and queue *payload* for *subject* (never blocks)."""
        try:
            self._outbox.send_nowait((subject, sign(self.node.secret, subject, payload)))
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            pass  # the transport is stopping

    def close(self) -> None:
        """Stop publishing."""
        self._outbox.close()

    async def join(self, name: str, member: ActorRef[Any]) -> None:
        """Make the local actor *member* one of the members of group *name*."""
        subject = self.subject(name)

        async def receive(msg: Msg) -> None:
            self._deliver(subject, member, msg)

        await self.client.subscribe(subject, queue=name, cb=receive)
        await self.client.flush()

    def _deliver(self, subject: str, member: ActorRef[Any], msg: Msg) -> None:
        node = self.node
        payload = verify(node.secret, subject, msg.data)
        if payload is None:
            logger.warning(
                "refused a message on %s: its MAC is wrong (not signed with the secret)", subject
            )
            return
        try:
            decoded = node.serializer.loads(payload, node)
            if not (isinstance(decoded, tuple) and len(decoded) == 2):
                raise RemoteError(reason="not a (message, sender) pair")
            message, sender = decoded
            if sender is not None and not isinstance(sender, ActorRef):
                raise RemoteError(reason=f"its sender is not a ref: {sender!r}")
        except RemoteError as error:
            logger.error("dropped a message on %s: %s", subject, error)
            return
        if not msg.reply:
            member._target.tell(message, sender)
            return
        slot = _GroupReplySlot(message, member, self, msg.reply)
        try:
            member._target.post(Envelope(message, sender, slot))
        except Exception as error:
            slot.set_error(error)


class _GroupReplySlot(ReplySlot):
    """Completing it publishes the answer to the asker's NATS inbox."""

    __slots__ = ("groups", "inbox")

    def __init__(self, message: object, recipient: ActorRef[Any], groups: Groups, inbox: str):
        super().__init__(message, recipient)
        self.groups = groups
        self.inbox = inbox

    def _completed(self) -> None:
        super()._completed()
        node = self.groups.node
        ok = self._error is None
        try:
            payload = node.serializer.dumps((ok, self._value if ok else self._error), node)
        except RemoteError as error:
            payload = node.serializer.dumps((False, error), node)
        self.groups.publish(self.inbox, payload)


class GroupTarget:
    """The Target of a group's ref: tells and asks go to one member each."""

    __slots__ = ("groups", "name", "path", "subject", "uid")

    def __init__(self, groups: Groups, name: str) -> None:
        self.groups = groups
        self.name = name
        self.subject = groups.subject(name)
        self.path = f"actorlib://group/{name}"
        self.uid = 0

    def ask_context(self) -> AskContext:
        """The local system's."""
        return self.groups.node.system.ask_context

    def _payload(self, message: object, sender: ActorRef[Any] | None) -> bytes:
        node = self.groups.node
        return node.serializer.dumps((message, sender), node)

    def tell(self, message: object, sender: ActorRef[Any] | None) -> None:
        """Publish to the group: one member gets it.

        Raises:
            SerializationError: the message cannot be serialized.
        """
        self.groups.publish(self.subject, self._payload(message, sender))

    def post(self, envelope: Envelope) -> None:
        """A tell, or an ask answered by the member that gets it.

        Raises:
            SerializationError: the message cannot be serialized.
        """
        slot = envelope.reply
        if slot is None:
            self.tell(envelope.message, envelope.sender)
            return
        payload = self._payload(envelope.message, envelope.sender)
        self.groups.node.system.start_runtime_task(lambda: self._request(payload, slot))

    async def _request(self, payload: bytes, slot: ReplySlot) -> None:
        groups = self.groups
        node = groups.node
        data = sign(node.secret, self.subject, payload)
        try:
            answer = await groups.client.request(self.subject, data, timeout=_REQUEST_LIMIT)
        except Exception as error:
            slot.set_error(
                RemoteError(reason=f"no member of group {self.name} answered ({error!r}); "
                            f"join actors to it with transport.join_group({self.name!r}, ref)")
            )  # fmt: skip
            return
        reply = verify(node.secret, answer.subject, answer.data)
        if reply is None:
            slot.set_error(RemoteError(reason=f"a reply from group {self.name} is not signed"))
            return
        try:
            decoded = node.serializer.loads(reply, node)
        except RemoteError as error:
            slot.set_error(error)
            return
        if not (isinstance(decoded, tuple) and len(decoded) == 2):
            slot.set_error(RemoteError(reason=f"a malformed reply from group {self.name}"))
            return
        ok, value = decoded
        if ok:
            slot.set_result(value)
        else:
            slot.set_error(
                value if isinstance(value, BaseException) else RemoteError(reason=repr(value))
            )

    def post_ask(self, envelope: Envelope) -> object:
        """As `post`: the members are in other processes."""
        self.post(envelope)
        return PENDING

    async def post_wait(self, envelope: Envelope) -> None:
        """As a tell: a group has no mailbox of its own to wait for."""
        self.post(envelope)

    def post_system(self, message: object) -> None:
        """A group is never stopped nor watched: runtime messages have no effect."""
