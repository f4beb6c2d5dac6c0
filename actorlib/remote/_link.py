"""A link: one authenticated frame channel to a peer node, a batching writer, a reader.

Everything this node sends to one peer goes through one link, in order, so
messages from one sender to one receiver arrive in the order sent. Items
queue without waiting (a tell never blocks); the writer packs every queued
item into as few frames as the size limit allows.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from typing import TYPE_CHECKING, Any

import anyio

from actorlib import ActorRef, Terminated
from actorlib._lowlevel import Waiter
from actorlib._messages import ReplySlot

from ._errors import FrameTooLarge, IntegrityError, NodeLost, RemoteError, SerializationError
from ._framing import FrameChannel
from ._logsafe import loggable
from ._wire import FRAME, ITEM_OVERHEAD, REFUSED, TELL, Item, decode_frame, encode_frame

if TYPE_CHECKING:
    from ._node import Node
    from ._sealed import SealedFrames

logger = logging.getLogger("actorlib.remote")

# Seconds a closing link waits for the peer to close its side.
CLOSE_TIMEOUT = 2.0
# A receiver acknowledges at least every this many frames, even with nothing to send.
ACK_EVERY = 8
# With heartbeats, a link is dead after this many intervals without a frame.
HEARTBEATS_MISSED = 4
# `send` waits while more items than this are queued on the link.
HIGH_WATER = 8192
# The longest reason a REFUSED item carries back to the sender.
REASON_LIMIT = 300
_DISCONNECTS = (
    anyio.EndOfStream,
    anyio.IncompleteRead,
    anyio.BrokenResourceError,
    anyio.ClosedResourceError,
    OSError,
)


class Link:
    """The connection to one peer node, for as long as it lasts."""

    def __init__(self, node: Node, peer: str, address: str | None) -> None:
        self.node = node
        self.peer = peer
        self.address = address
        # Set once the handshake has sealed the channel; None while dialing.
        self.channel: SealedFrames | None = None
        # (item, size, message, recipient): message and recipient (a Target)
        # make an unsent tell a dead letter if the link dies.
        self.outbox: deque[tuple[Item, int, object, Any]] = deque()
        self.pending: dict[int, ReplySlot] = {}
        self.watches: set[tuple[ActorRef[Any], ActorRef[Any]]] = set()  # (watcher, remote)
        self.closed = False
        self.error: BaseException | None = None
        self._requests = 0
        self.traffic = node.traffic_with(peer)  # counters that outlive this link
        # Frames are numbered; each carries the number of the last frame
        # received (a piggybacked ack). Tells in frames the peer has not yet
        # acknowledged are dead letters if the link dies: never silence.
        self.sent_seq = 0
        self.received_seq = 0
        self.acked_to_peer = 0
        self.unacked: deque[tuple[int, list[tuple[object, Any]]]] = deque()
        self._wake: Waiter | None = None
        self._room: anyio.Event | None = None
        self._scope: anyio.CancelScope | None = None
        self._closed_event: anyio.Event | None = None

    def __repr__(self) -> str:
        return f"<Link to {self.peer}{' closed' if self.closed else ''}>"

    # ------------------------------------------------------------ sending side

    def enqueue(
        self,
        item: Item,
        size: int,
        message: object = None,
        recipient: object = None,
    ) -> None:
        """Queue *item* for the writer (never blocks)."""
        self.outbox.append((item, size + ITEM_OVERHEAD, message, recipient))
        wake = self._wake
        if wake is not None:
            self._wake = None
            wake.set()

    def _poke(self) -> None:
        wake = self._wake
        if wake is not None:
            self._wake = None
            wake.set()

    def request(self, slot: ReplySlot) -> int:
        """Register a slot for the peer's REPLY; return the request id."""
        self._requests += 1
        pending = self.pending
        if not self._requests % 4096:
            # Asks that timed out or were cancelled wait for a reply that may
            # never come: forget them (a late reply is then a dead letter).
            for request in [r for r, s in pending.items() if s.done]:
                del pending[request]
        pending[self._requests] = slot
        return self._requests

    async def wait_for_room(self) -> None:
        """Wait while the outbox is over its high-water mark."""
        while len(self.outbox) > HIGH_WATER and not self.closed:
            if self._room is None:
                self._room = anyio.Event()
            await self._room.wait()

    @property
    def max_payload(self) -> int:
        """The largest payload one item may carry."""
        return self.node.max_frame - ITEM_OVERHEAD

    def check_size(self, size: int) -> None:
        """Raise `FrameTooLarge` for a payload no frame can carry."""
        limit = self.node.max_frame
        if size + ITEM_OVERHEAD > limit:
            raise FrameTooLarge(size=size + ITEM_OVERHEAD, limit=limit, peer=self.peer)

    async def wait_closed(self) -> None:
        """Return once the link is closed."""
        if not self.closed:
            if self._closed_event is None:
                self._closed_event = anyio.Event()
            await self._closed_event.wait()

    # ------------------------------------------------------------ running

    @property
    def heartbeat(self) -> float | None:
        """Seconds between frames on this link when idle, as both ends agreed (None: none)."""
        return None if self.channel is None else self.channel.session.heartbeat

    async def run(self) -> None:
        """Write and read on the sealed channel until it fails or the link is closed."""
        channel = self.channel
        assert channel is not None, "a link runs once its channel is sealed"
        self.node.doubts.link_started(self)
        try:
            async with anyio.create_task_group() as group:
                self._scope = group.cancel_scope
                if not self.closed:
                    group.start_soon(self._guard, self._write_all, channel)
                    await self._guard(self._read_all, channel)
        finally:
            self.close(self.error)
            with anyio.CancelScope(shield=True):
                await channel.aclose()

    async def _guard(self, loop: Any, channel: FrameChannel) -> None:
        # Whatever ends the reader or the writer ends the link; only the first
        # error is kept, and nothing escapes into the runtime's task group.
        # Levels: a peer that hangs up is news (debug here, info when the node
        # forgets the link); a refused frame is the peer's fault (a warning, no
        # traceback); anything else is a bug of ours (an error, with one).
        try:
            await loop(channel)
        except _DISCONNECTS as error:
            logger.debug("the link to %s ended: %s", loggable(self.peer), type(error).__name__)
        except IntegrityError as error:
            # An attack or a corrupted stream, not a bug here: one line, no traceback.
            logger.warning("%s", loggable(error))
            self.error = self.error or error
        except (FrameTooLarge, SerializationError) as error:
            logger.warning(
                "refused a frame from %s and closed the link: %s",
                loggable(self.peer),
                loggable(error),
            )
            self.error = self.error or error
        except Exception as error:
            logger.exception("the link to %s failed", loggable(self.peer))
            self.error = self.error or error
        if self._scope is not None:
            self._scope.cancel()

    async def _read_all(self, channel: FrameChannel) -> None:
        dispatch = self.node.dispatch
        heartbeat = self.heartbeat
        dead_after = math.inf if heartbeat is None else HEARTBEATS_MISSED * heartbeat
        unacked = self.unacked
        frame: bytes | None
        while True:
            if heartbeat is None:
                frame = await channel.receive_frame()
            else:
                frame = None
                with anyio.move_on_after(dead_after):
                    frame = await channel.receive_frame()
                if frame is None:
                    logger.warning("no heartbeat from %s within %g s", self.peer, dead_after)
                    return
            if not self._take(frame, dispatch, unacked):
                return

    def _take(self, frame: bytes, dispatch: Any, unacked: Any) -> bool:
        """Handle one frame; False if the link is closed on this side."""
        if self.closed:
            # Closed on this side: what it received so far is final (the
            # peer may ask, see _doubts), so nothing more is delivered.
            return False
        items = decode_frame(frame)
        header = items[0] if items else None
        if header is None or header[0] != FRAME or len(header) != 3:
            raise SerializationError(what="a frame", problem="it has no header")
        if header[1] != self.received_seq + 1:
            # The sealed channel below already refused lost, replayed and
            # reordered frames: numbers out of step here are a faulty peer.
            raise SerializationError(
                what="a frame",
                problem=f"its number {header[1]} does not follow {self.received_seq}",
            )
        self.received_seq = seq = header[1]
        traffic = self.traffic
        traffic.frames_received += 1
        traffic.bytes_received += len(frame)
        tells = 0  # TELL items so far: the peer keeps one letter per TELL, in order
        for index in range(1, len(items)):
            item = items[index]
            try:
                dispatch(self, item)
            except RemoteError as error:
                logger.error("dropped an item from %s: %.300s", self.peer, error)
                if item[0] == TELL:
                    # The sender makes it a dead letter (it holds the message).
                    reason = str(error)[:REASON_LIMIT]
                    self.enqueue((REFUSED, seq, tells, reason), len(reason))
            except (TypeError, ValueError, IndexError, KeyError) as error:
                raise SerializationError(
                    what="a frame", problem=f"a malformed item ({type(error).__name__}: {error})"
                ) from None
            if item[0] == TELL:
                tells += 1
        # After the items: a REFUSED among them still finds its tell's letter.
        acked = header[2]
        while unacked and unacked[0][0] <= acked:
            unacked.popleft()
        if self.received_seq - self.acked_to_peer >= ACK_EVERY:
            self._poke()
        return True

    async def _write_all(self, channel: FrameChannel) -> None:
        outbox = self.outbox
        limit = self.node.max_frame
        heartbeat = self.heartbeat
        new_event = self.node.system.ask_context[3]
        while True:
            if self.closed:
                # Closing from this side: half-close and let the reader see the
                # peer's end of stream (cancelling a pending socket read races
                # with its wake-up on asyncio). The scope's deadline is the backstop.
                try:
                    await channel.send_eof()
                except NotImplementedError:  # TLS cannot half-close
                    return
                await anyio.sleep_forever()
            if not outbox and self.received_seq - self.acked_to_peer < ACK_EVERY:
                self._wake = wake = new_event()
                if heartbeat is None:
                    await wake.wait()
                    continue
                with anyio.move_on_after(heartbeat) as idle:
                    await wake.wait()
                if not idle.cancelled_caught:
                    continue  # else: a heartbeat, an empty frame
            self.sent_seq += 1
            items: list[Item] = [(FRAME, self.sent_seq, self.received_seq)]
            self.acked_to_peer = self.received_seq
            letters: list[tuple[object, Any]] = []
            size = ITEM_OVERHEAD
            while outbox and (len(items) == 1 or size + outbox[0][1] <= limit):
                item, cost, message, recipient = outbox.popleft()
                items.append(item)
                size += cost
                if recipient is not None:
                    letters.append((message, recipient))
            if letters:
                self.unacked.append((self.sent_seq, letters))
            frame = encode_frame(items)
            self.traffic.frames_sent += 1
            self.traffic.bytes_sent += len(frame)
            await channel.send_frame(frame)
            room = self._room
            if room is not None and len(outbox) <= HIGH_WATER // 2:
                self._room = None
                room.set()

    def close(self, error: BaseException | None = None) -> None:
        """The link is gone: fail its asks, tell watchers, dead-letter what is unsent."""
        if self.closed:
            return
        self.closed = True
        self.error = error
        if self._scope is not None:
            self._scope.deadline = min(self._scope.deadline, anyio.current_time() + CLOSE_TIMEOUT)
        pending, self.pending = self.pending, {}
        for slot in pending.values():
            slot.set_error(NodeLost(node=self.peer, path=slot.recipient.path))
        for watcher, remote in self.watches:
            # One error per notice: each watcher may raise it and add its own notes.
            watcher._target.post_system(Terminated(remote, NodeLost(node=self.peer)))
        self.watches.clear()
        system = self.node.system
        # Tells in frames the peer has not acknowledged may have arrived:
        # the node asks the peer before it makes them dead letters.
        in_doubt = [
            (seq, message, recipient)
            for seq, letters in self.unacked
            for message, recipient in letters
            if recipient is not None  # None: refused, a dead letter already
        ]
        self.unacked.clear()
        while self.outbox:
            _, _, unsent, to = self.outbox.popleft()
            if to is not None:
                system.dead_letter(unsent, ActorRef(to), None)
        for wake in (self._wake, self._room, self._closed_event):
            if wake is not None:
                wake.set()
        self.node.link_closed(self)
        self.node.doubts.link_ended(self, in_doubt)
