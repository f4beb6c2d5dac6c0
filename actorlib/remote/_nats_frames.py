"""One end of a link over NATS as a frame channel; knows nothing of nodes or actors."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from ._auth import MAX_HELLO
from ._errors import FrameTooLarge, IntegrityError

if TYPE_CHECKING:
    from nats.aio.client import Client
    from nats.aio.msg import Msg

logger = logging.getLogger("actorlib.remote")

_EOF = b""  # before sealing: an empty message ends a link's direction
# Before the handshake ends, anyone may publish to a link's subjects: only
# this many frames, each no bigger than a hello, are queued; the rest are dropped.
_MAX_UNSEALED_QUEUED = 8
_UNSEALED_FRAME_LIMIT = MAX_HELLO

_RAW, _OPENED, _ERROR = 0, 1, 2


class NatsFrames:
    """One end of a link over NATS: publish to the peer's subject, read our own.

    NATS is a shared medium (``shared``): once the link is sealed, each message
    is opened as it arrives (`install_opener`), and what any other client of
    the server publishes on the subject is dropped before it is queued.
    """

    shared = True

    def __init__(self, client: Client, inbound: str, outbound: str, peer: str, max_frame: int):
        self.client = client
        self.inbound = inbound
        self.outbound = outbound
        self.peer = peer
        self.max_frame = max_frame
        channel: tuple[MemoryObjectSendStream[_Queued], MemoryObjectReceiveStream[_Queued]]
        channel = anyio.create_memory_object_stream[_Queued](math.inf)
        self._send, self._receive = channel
        self._subscription: Any = None
        self._opener: Callable[[bytes], bytes | None] | None = None
        self._unsealed_queued = 0

    async def subscribe(self) -> None:
        """Start receiving (before the peer is told where to send)."""

        async def deliver(msg: Msg) -> None:
            self._deliver(msg.data)

        self._subscription = await self.client.subscribe(self.inbound, cb=deliver)

    def _deliver(self, data: bytes) -> None:
        item: _Queued
        opener = self._opener
        if opener is None:
            # Unauthenticated: bounded in size and number, never grown by a flood.
            if len(data) > _UNSEALED_FRAME_LIMIT or self._unsealed_queued >= _MAX_UNSEALED_QUEUED:
                return
            self._unsealed_queued += 1
            item = (_RAW, data)
        else:
            try:
                body = opener(data)
            except IntegrityError as error:
                item = (_ERROR, error)
            else:
                if body is None:
                    return
                item = (_OPENED, body)
        try:
            self._send.send_nowait(item)
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            pass  # this end is closed: nothing reads any more

    def install_opener(self, opener: Callable[[bytes], bytes | None]) -> None:
        """Open every frame from now on with *opener*, as it arrives (see `_sealed`)."""
        self._opener = opener

    async def send_frame(self, frame: bytes) -> None:
        """Publish one frame to the peer.

        Raises:
            FrameTooLarge: over the limit (the server's max_payload at most).
        """
        if len(frame) > self.max_frame:
            raise FrameTooLarge(size=len(frame), limit=self.max_frame, peer=self.peer)
        await self._publish(frame)

    async def _publish(self, frame: bytes) -> None:
        try:
            await self.client.publish(self.outbound, frame)
        except Exception as error:  # nats-py's errors: the connection is closed or draining
            raise anyio.BrokenResourceError(f"NATS publish failed: {error!r}") from error

    async def receive_frame(self, limit: int | None = None) -> bytes:
        """The next frame (its opened body, once sealed).

        Raises:
            anyio.EndOfStream: the peer ended the link.
            FrameTooLarge: an unsealed frame over *limit*.
            IntegrityError: a sealed frame was lost (see `_sealed`).
        """
        while True:
            kind, data = await self._receive.receive()
            if kind == _ERROR:
                assert isinstance(data, IntegrityError)
                raise data
            assert isinstance(data, bytes)
            if kind == _RAW:
                self._unsealed_queued -= 1
                if self._opener is not None:
                    # Queued before the link was sealed, read after.
                    opened = self._opener(data)
                    if opened is None:
                        continue
                    data = opened
                elif limit is not None and len(data) > limit:
                    raise FrameTooLarge(size=len(data), limit=limit, peer=self.peer)
            if data == _EOF:
                raise anyio.EndOfStream
            return data

    async def send_eof(self) -> None:
        """Tell the peer this direction is over (unsealed: only before the handshake ends)."""
        if not self.client.is_closed and self._opener is None:
            await self._publish(_EOF)

    async def aclose(self) -> None:
        """Stop receiving."""
        self._send.close()
        self._receive.close()
        subscription, self._subscription = self._subscription, None
        if subscription is not None and not self.client.is_closed:
            try:
                await subscription.unsubscribe()
            except Exception:  # the connection is closing: nothing to undo
                logger.debug("unsubscribe from %s failed", self.inbound, exc_info=True)


_Queued = tuple[int, "bytes | IntegrityError"]
