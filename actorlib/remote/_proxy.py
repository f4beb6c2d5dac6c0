"""Remote refs: the `Target` of an actor on another node, and reply slots answering over a link."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from actorlib import ActorRef, Terminated
from actorlib._messages import PENDING, Envelope, Notice, ReplySlot, Unwatch, Watch
from actorlib._ref import AskContext

from ._errors import FrameTooLarge, NodeLost, SerializationError
from ._serializer import PLAIN_ENCODE, RefId
from ._wire import ASK, NOTICE, REPLY, SEND, STOP, TELL, UNWATCH, WATCH

if TYPE_CHECKING:
    from ._link import Link
    from ._node import Node

SCHEME = "actorlib://"


def remote_path(node: str, path: str) -> str:
    """The path a ref to *path* on *node* shows here: ``actorlib://node/user/x``."""
    return f"{SCHEME}{node}{path}"


class RemoteTarget:
    """What a ref to an actor on another node points at (the Target protocol)."""

    __slots__ = ("local_path", "name", "node", "path", "peer", "ref_id", "uid")

    def __init__(self, node: Node, ref_id: RefId) -> None:
        self.node = node
        self.ref_id = ref_id
        self.peer, _, self.local_path, self.uid = ref_id
        self.path = remote_path(self.peer, self.local_path)
        self.name = self.local_path.rsplit("/", 1)[-1]

    def __repr__(self) -> str:
        return f"<RemoteTarget {self.path}>"

    def ask_context(self) -> AskContext:
        """The local system's: timeouts are enforced on the asking side."""
        return self.node.system.ask_context

    def _encode(self, link: Link, message: object) -> bytes:
        payload = self.node.serializer.dumps(message, self.node)
        link.check_size(len(payload))
        return payload

    def _sender_id(self, sender: ActorRef[Any] | None) -> RefId | None:
        return None if sender is None else self.node.encode_ref(sender)

    def tell(self, message: object, sender: ActorRef[Any] | None) -> None:
        """Queue a TELL on the link (a dead letter if the node is gone).

        Raises:
            SerializationError: the message cannot be serialized.
            FrameTooLarge: it is over the link's size limit.
        """
        node = self.node
        link = node.links.get(self.peer)
        if link is None or link.closed:
            link = node.link_for(self.peer, self.ref_id[1])
            if link is None:
                node.system.dead_letter(message, ActorRef(self), sender)
                return
        encode = PLAIN_ENCODE.get(type(message))  # the hot path: plain values
        payload = encode(message) if encode is not None else node.serializer.dumps(message, node)
        size = len(payload)
        if size > link.max_payload:
            link.check_size(size)
        sender_id = None if sender is None else node.encode_ref(sender)
        tracing = node.system.tracing
        if tracing is None:
            link.enqueue((TELL, self.local_path, self.uid, sender_id, payload), size, message, self)
        else:
            trace = tracing.export(None)
            item = (TELL, self.local_path, self.uid, sender_id, payload, trace)
            link.enqueue(item, size, message, self)

    def post(self, envelope: Envelope) -> None:
        """A tell, or an ask whose reply comes back over the link.

        Raises:
            SerializationError: the message cannot be serialized.
            FrameTooLarge: it is over the link's size limit.
        """
        slot = envelope.reply
        if slot is None:
            self.tell(envelope.message, envelope.sender)
            return
        link = self.node.link_for(self.peer, self.ref_id[1])
        if link is None:
            slot.set_error(NodeLost(node=self.peer, path=self.path))
            return
        try:
            payload = self._encode(link, envelope.message)
        except Exception as error:
            slot.set_error(error)
            return
        request = link.request(slot)
        sender = self._sender_id(envelope.sender)
        item: tuple[object, ...] = (ASK, self.local_path, self.uid, sender, payload, request)
        tracing = self.node.system.tracing
        if tracing is not None:
            item = (*item, tracing.export(envelope.trace))
        link.enqueue(item, len(payload))

    def post_ask(self, envelope: Envelope) -> object:
        """As `post`: the actor is in another process."""
        tracing = self.node.system.tracing
        slot = envelope.reply
        # The client span of an `ActorRef.ask` (whose slot is a plain ReplySlot,
        # ended by the ask); not of an ask relayed from another node.
        if tracing is not None and slot is not None and type(slot) is ReplySlot:
            slot.trace = slot.trace or tracing.start_ask(self.path, envelope)
        self.post(envelope)
        return PENDING

    async def post_wait(self, envelope: Envelope) -> None:
        """Send, waiting for room on the link and in the remote mailbox.

        Raises:
            SerializationError: the message cannot be serialized.
            NodeLost: the node went away before the message was queued there.
        """
        link = self.node.link_for(self.peer, self.ref_id[1])
        if link is None:
            self.node.system.dead_letter(envelope.message, ActorRef(self), envelope.sender)
            return
        await link.wait_for_room()
        payload = self._encode(link, envelope.message)
        slot = ReplySlot(envelope.message, ActorRef(self))
        request = link.request(slot)
        sender = self._sender_id(envelope.sender)
        item: tuple[object, ...] = (SEND, self.local_path, self.uid, sender, payload, request)
        tracing = self.node.system.tracing
        if tracing is not None:  # the sender's context, current here (_ref.ActorRef.send)
            item = (*item, tracing.export(envelope.trace))
        link.enqueue(item, len(payload))
        await slot.wait(self.node.system.ask_context[3])

    async def stop_and_wait(self) -> None:
        """What ``system.stop(ref)`` does for a remote actor: stop it, wait until it has.

        Returns at once if its node is gone (so is the actor).
        """
        link = self.node.link_for(self.peer, self.ref_id[1])
        if link is None:
            return
        tracing = self.node.system.tracing
        # The stopper's trace context: the stop is a span on the actor's node.
        trace = None if tracing is None else tracing.export(None)

        def stop_item(request: int) -> tuple[object, ...]:
            item = (STOP, self.local_path, self.uid, request)
            return item if trace is None else (*item, trace)

        try:
            await self.node.request(link, stop_item, "stop")
        except NodeLost:
            return  # its node went away: so did the actor

    def post_system(self, message: object) -> None:
        """Watch, Unwatch and Terminated notices travel; the runtime's others stay local.

        A notice carries the trace context of the stop that caused it (a
        `Notice`, while tracing is on) as a traceparent.
        """
        if isinstance(message, Terminated | Notice):
            # A notice to a watcher on a node that is gone has nobody to reach:
            # never dial for it (a stopping node would dial its lost peers).
            link = self.node.links.get(self.peer)
            if link is not None and not link.closed:
                self._notify(link, message)
            return
        link = self.node.link_for(self.peer, self.ref_id[1])
        ref: ActorRef[Any] = ActorRef(self)
        if isinstance(message, Watch):
            if link is None:
                message.watcher._target.post_system(
                    Terminated(ref, NodeLost(node=self.peer, path=self.path))
                )
                return
            link.watches.add((message.watcher, ref))
            watcher = self.node.encode_ref(message.watcher)
            link.enqueue((WATCH, self.local_path, self.uid, watcher), 0)
        elif isinstance(message, Unwatch) and link is not None:
            link.watches.discard((message.watcher, ref))
            watcher = self.node.encode_ref(message.watcher)
            link.enqueue((UNWATCH, self.local_path, self.uid, watcher), 0)

    def _notify(self, link: Link, message: Terminated | Notice) -> None:
        node = self.node
        notice = message if isinstance(message, Terminated) else message.terminated
        payload = node.serializer.dumps(notice, node)
        item: tuple[object, ...] = (NOTICE, self.local_path, self.uid, payload)
        tracing = node.system.tracing
        if tracing is not None and isinstance(message, Notice):
            item = (*item, tracing.export(message.trace))
        link.enqueue(item, len(payload))


class LinkReplySlot(ReplySlot):
    """The reply slot of an ask that came over a link: completing it answers there."""

    __slots__ = ("link", "request")

    def __init__(self, message: object, recipient: ActorRef[Any], link: Link, request: int):
        super().__init__(message, recipient)
        self.link = link
        self.request = request

    def _completed(self) -> None:
        super()._completed()
        link = self.link
        if link.closed:
            return
        ok = self._error is None
        node = link.node
        try:
            payload = node.serializer.dumps(self._value if ok else self._error, node)
            if len(payload) > link.max_payload:
                link.check_size(len(payload))
        except (SerializationError, FrameTooLarge) as error:
            # The reply cannot travel: the asker gets why, never a link
            # killed by a frame over its limit (nor a wait without end).
            what = type(self.message).__name__
            error.add_note(f"the reply of {self.recipient.path} to a {what} ask cannot travel")
            ok, payload = False, node.serializer.dumps(error, node)
        link.enqueue((REPLY, self.request, ok, payload), len(payload))
