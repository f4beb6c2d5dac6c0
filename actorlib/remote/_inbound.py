"""What arrives over a link: each item of a frame, handled for the node it came to.

A mixin of `Node`, kept apart because it is the node's one seam with hostile
input: every item here comes from an authenticated peer, but a fault in one
item (a refused type, a full mailbox) stays with that item.
"""

from __future__ import annotations

import logging
import struct
from typing import TYPE_CHECKING, Any

from actorlib import ActorRef, Directive, MailboxFull, OneForOne, Terminated
from actorlib._deadletters import brief
from actorlib._messages import PENDING, Envelope, Notice, Stop, Unwatch, Watch
from actorlib._transport import SpawnSpec

from ._errors import RemoteError, SerializationError
from ._proxy import LinkReplySlot, RemoteTarget
from ._serializer import PLAIN_DECODE, RefId, Serializer
from ._wire import (
    ASK,
    LOOKUP,
    NOTICE,
    PING,
    PONG,
    REFUSED,
    REPLY,
    RESUME,
    RESUME_ASK,
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

    from ._doubts import Doubts
    from ._link import Link

logger = logging.getLogger("actorlib.remote")

# Actors spawned here for another node are stopped when they fail: the
# failure travels to the stand-in on their owner's node (its Terminated), and
# the owner's parent applies its own strategy there.
HOSTED_STRATEGY = OneForOne(max_restarts=0, decider=lambda error: Directive.STOP)


class InboundItems:
    """Handles the items that arrive on the node's links (mixed into `Node`)."""

    system: ActorSystem
    serializer: Serializer
    doubts: Doubts
    hosted: dict[str, set[ActorRef[Any]]]
    _locals: dict[tuple[str, int], Any]

    if TYPE_CHECKING:  # the node's own (RefCodec)

        def decode_ref(self, ref_id: RefId) -> ActorRef[Any]: ...
        def encode_ref(self, ref: ActorRef[Any]) -> RefId: ...
        def resolve(self, path: str, uid: int) -> ActorRef[Any]: ...

    def dispatch(self, link: Link, item: Item) -> None:
        """Handle one item that arrived on *link*."""
        kind = item[0]
        if kind == TELL:
            if len(item) != 5:
                self._tell_traced(item)
                return
            _, path, uid, sender, payload = item
            message = self._told(payload)
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
            self._watch(kind, item)
        elif kind == NOTICE:
            self._notice(link, item)
        elif kind == SPAWN:
            self._spawn(link, item)
        elif kind == STOP:
            self._stop(link, item)
        elif kind == LOOKUP:
            _, request, path = item
            self._answer(link, request, self.system.lookup(path))
        elif kind == SEND:
            self._send(link, item)
        elif kind == RESUME_ASK:
            self.doubts.answer(link, item)
        elif kind == RESUME:
            self.doubts.resume(link, item)
        elif kind == REFUSED:
            self._refused(link, item)
        elif kind == PING:
            link.pinged(item)
        elif kind == PONG:
            link.ponged(item)
        else:
            raise RemoteError(reason=f"unknown item kind {brief(kind)} from {link.peer}")

    def _watch(self, kind: object, item: Item) -> None:
        """A WATCH or UNWATCH: a remote watcher starts or stops watching a local actor."""
        _, path, uid, watcher = item
        message = Watch if kind == WATCH else Unwatch
        self.system.resolve(path, uid)._target.post_system(message(self.decode_ref(watcher)))

    def _notice(self, link: Link, item: Item) -> None:
        """A NOTICE: a remote actor watched from here has terminated."""
        # While tracing, the trace context of the stop that caused it comes last.
        _, path, uid, payload, trace = item if len(item) == 5 else (*item, None)
        notice = self.serializer.loads(payload, self)
        if isinstance(notice, Terminated):
            watcher = self.system.resolve(path, uid)
            link.watches.discard((watcher, notice.ref))
            context = self._trace(trace)
            watcher._target.post_system(notice if context is None else Notice(notice, context))

    def _told(self, payload: bytes) -> object:
        """The message of a TELL: a plain value, or the serializer's."""
        decode = PLAIN_DECODE.get(payload[0]) if payload else None
        if decode is not None and type(payload) is bytes:
            try:
                return decode(payload)
            except (ValueError, struct.error) as error:
                raise SerializationError(what="a plain value", problem=str(error)) from None
        return self.serializer.loads(payload, self)

    def _local(self, path: str, uid: int) -> Any:
        if len(self._locals) > 10_000:
            self._locals.clear()
        target = self._locals[(path, uid)] = self.system.resolve(path, uid)._target
        return target

    def _answer(self, link: Link, request: int, value: object, *, ok: bool = True) -> None:
        slot = LinkReplySlot(
            None, ActorRef(RemoteTarget(link.node, (link.peer, None, "/", 0))), link, request
        )
        if ok:
            slot.set_result(value)
        else:
            assert isinstance(value, BaseException)
            slot.set_error(value)

    def _ask(self, link: Link, item: Item) -> None:
        if len(item) == 7:  # traced: the asker's trace context, last
            _, path, uid, sender, payload, request, trace = item
        else:
            _, path, uid, sender, payload, request = item
            trace = None
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
            envelope = Envelope(message, self._sender(sender), slot, self._trace(trace))
            answer = ref._target.post_ask(envelope)
        except Exception as error:
            slot.set_error(error)
        else:
            if answer is not PENDING:
                slot.set_result(answer)

    def _trace(self, text: object) -> object:
        """The trace context a peer sent (None: none, or not a valid traceparent).

        The frame was authenticated, but the text is still only trusted to be
        a short string: `Tracing.load` accepts nothing but a 55-character
        W3C traceparent, and a bad one drops the trace, never the message.
        """
        tracing = self.system.tracing
        if tracing is None or text is None:
            return None
        return tracing.load(text)

    def _tell_traced(self, item: Item) -> None:
        """A TELL carrying its sender's trace context: through `post`, with it."""
        _, path, uid, sender, payload, trace = item
        message = self._told(payload)
        target = self._locals.get((path, uid))
        if target is None:
            target = self._local(path, uid)
        from_ref = None if sender is None else self.decode_ref(sender)
        try:
            target.post(Envelope(message, from_ref, None, self._trace(trace)))
        except MailboxFull:
            self.system.dead_letter(message, ActorRef(target), from_ref)

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
        # While tracing, the stopper's trace context comes last.
        _, path, uid, request, trace = item if len(item) == 5 else (*item, None)
        target = self.system.resolve(path, uid)._target
        wait_stopped = getattr(target, "wait_stopped", None)
        if wait_stopped is None or target is self.system._guardian:
            self._answer(link, request, None)  # gone already (or never stoppable from afar)
            return
        tracing = self.system.tracing
        parent = self._trace(trace)
        target.post_system(Stop(None, parent))  # its Terminated notices continue the trace

        async def answer_when_stopped() -> None:
            if tracing is None:
                await wait_stopped()
            else:
                # The stop as a span under the stopper's (which may be on another node).
                cell: Any = target  # a local actor's Cell: it has wait_stopped
                actor_class: type = cell.factory[0]
                attributes = {
                    "actorlib.actor.path": path,
                    "actorlib.actor.class": f"{actor_class.__module__}.{actor_class.__qualname__}",
                }
                name = f"actorlib.stop {actor_class.__name__}"
                with tracing.span(name, parent, "consumer", attributes) as span:
                    await wait_stopped()
                    span.finish("stopped", None, {})
            self._answer(link, request, None)

        self.system._start_runtime_task(answer_when_stopped)

    def _send(self, link: Link, item: Item) -> None:
        # While tracing, the sender's trace context comes last.
        _, path, uid, sender, payload, request, trace = item if len(item) == 7 else (*item, None)
        try:
            message = self.serializer.loads(payload, self)
        except RemoteError as error:
            self._answer(link, request, error, ok=False)  # the sender's send() raises it
            return
        target = self.system.resolve(path, uid)._target
        envelope = Envelope(message, self._sender(sender), None, self._trace(trace))

        async def post_then_ack() -> None:
            try:
                await target.post_wait(envelope)
            except Exception as error:
                self._answer(link, request, error, ok=False)
            else:
                self._answer(link, request, None)

        self.system._start_runtime_task(post_then_ack)

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
