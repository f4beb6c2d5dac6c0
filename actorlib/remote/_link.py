"""A link: one authenticated frame channel to a peer node, a batching writer, a reader.

Everything this node sends to one peer goes through one link, in order, so
messages from one sender to one receiver arrive in the order sent. Items
queue without waiting (a tell never blocks); the writer packs every queued
item into as few frames as the size limit allows. Heartbeats, the silence
that loses a link, round-trip times and the close timeout read the system's
Clock seam (virtual time under simulation).
"""

from __future__ import annotations

import logging
import math
from collections import deque
from typing import TYPE_CHECKING, Any

import anyio

from actorlib import ActorRef, Terminated
from actorlib._clock import IdleTimer, TimerHandle
from actorlib._lowlevel import Waiter
from actorlib._messages import ReplySlot

from ._errors import FrameTooLarge, IntegrityError, NodeLost, RemoteError, SerializationError
from ._framing import FrameChannel
from ._logsafe import loggable
from ._wire import (
    FRAME,
    ITEM_OVERHEAD,
    PING,
    PONG,
    REFUSED,
    TELL,
    Item,
    decode_frame,
    encode_frame,
)

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
# Seconds between two round-trip measurements (pings) on a link.
PING_INTERVAL = 1.0
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
        self._close_timer: TimerHandle | None = None
        self._closed_event: anyio.Event | None = None
        # Set by the heartbeat timer: the writer sends a frame, empty if need be.
        self._beat = False
        # Round-trip time: the nonce of the ping in flight (None: none), when
        # its frame was handed to the channel, and when the next may go.
        self._ping: int | None = None
        self._pinged_at = 0.0
        self._next_ping = -math.inf

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
            self._scope = None
            if self._close_timer is not None:
                self._close_timer.cancel()
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
        unacked = self.unacked
        heartbeat = self.heartbeat
        if heartbeat is None:
            while self._take(await channel.receive_frame(), dispatch, unacked):
                pass
            return
        # Silent for HEARTBEATS_MISSED intervals (of the system's clock) since
        # the last frame: one timer checks the time of the last frame heard,
        # rather than a timeout armed and cancelled per frame. A stall of this
        # process (its check ran late) is not the peer's silence: the peer gets
        # one more interval, for the frames that came meanwhile to be read.
        system = self.node.system
        now = system.clock.now
        dead_after = HEARTBEATS_MISSED * heartbeat
        with anyio.CancelScope() as silence:
            heard = IdleTimer(system.timer_queue, dead_after, silence.cancel, stall_grace=heartbeat)
            try:
                while True:
                    frame = await channel.receive_frame()
                    heard.last = now()
                    if not self._take(frame, dispatch, unacked):
                        return
            finally:
                heard.cancel()
        logger.warning("no heartbeat from %s within %g s", self.peer, dead_after)

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
        system = self.node.system
        # Idle for a heartbeat interval since the last frame sent: a frame goes
        # anyway (empty if nothing waits). One timer for the link, as in _read_all.
        beat = (
            None
            if self.heartbeat is None
            else IdleTimer(system.timer_queue, self.heartbeat, self._heartbeat_due)
        )
        try:
            await self._write_frames(channel, beat)
        finally:
            if beat is not None:
                beat.cancel()

    def _heartbeat_due(self) -> None:
        self._beat = True
        self._poke()

    async def _write_frames(self, channel: FrameChannel, beat: IdleTimer | None) -> None:
        outbox = self.outbox
        limit = self.node.max_frame
        system = self.node.system
        now = system.clock.now
        new_event = system.ask_context[3]
        while True:
            if self.closed:
                # Closing from this side: half-close and let the reader see the
                # peer's end of stream (cancelling a pending socket read races
                # with its wake-up on asyncio). The close timer is the backstop.
                try:
                    await channel.send_eof()
                except NotImplementedError:  # TLS cannot half-close
                    return
                await anyio.sleep_forever()
            if not outbox and self.received_seq - self.acked_to_peer < ACK_EVERY and not self._beat:
                self._wake = wake = new_event()
                await wake.wait()
                continue
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
            sending = now()
            if self._ping is None and sending >= self._next_ping and size + ITEM_OVERHEAD <= limit:
                # Measure the round-trip time on a frame that goes anyway.
                self._ping = self.sent_seq
                self._pinged_at, self._next_ping = sending, sending + PING_INTERVAL
                items.append((PING, self.sent_seq))
            frame = encode_frame(items)
            self.traffic.frames_sent += 1
            self.traffic.bytes_sent += len(frame)
            await channel.send_frame(frame)
            if beat is not None:
                # Whatever this frame carried, it was this interval's heartbeat.
                beat.last = now()
                self._beat = False
            room = self._room
            if room is not None and len(outbox) <= HIGH_WATER // 2:
                self._room = None
                room.set()

    def pinged(self, item: Item) -> None:
        """The peer measures its round-trip time: answer at once.

        Raises:
            RemoteError: a malformed ping.
        """
        if len(item) != 2 or type(item[1]) is not int:
            raise RemoteError(reason=f"{self.peer} sent a malformed ping")
        self.enqueue((PONG, item[1]), 0)

    def ponged(self, item: Item) -> None:
        """The answer to this link's ping: one round trip measured (any other is ignored)."""
        if len(item) == 2 and self._ping is not None and item[1] == self._ping:
            self._ping = None
            self.traffic.round_trip(self.node.system.clock.now() - self._pinged_at)

    def close(self, error: BaseException | None = None) -> None:
        """The link is gone: fail its asks, tell watchers, dead-letter what is unsent."""
        if self.closed:
            return
        self.closed = True
        self.error = error
        if self._scope is not None:
            # The peer has this long (of the system's clock) to close its side.
            timers = self.node.system.timer_queue
            self._close_timer = timers.call_later(CLOSE_TIMEOUT, self._scope.cancel)
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
