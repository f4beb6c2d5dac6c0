"""One end of a link over NATS as a frame channel; knows nothing of nodes or actors."""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING, Any

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from ._errors import FrameTooLarge

if TYPE_CHECKING:
    from nats.aio.client import Client
    from nats.aio.msg import Msg

logger = logging.getLogger("actorlib.remote")

_EOF = b""  # frames are never empty: an empty message ends a link's direction


class NatsFrames:
    """One end of a link over NATS: publish to the peer's subject, read our own."""

    def __init__(self, client: Client, inbound: str, outbound: str, peer: str, max_frame: int):
        self.client = client
        self.inbound = inbound
        self.outbound = outbound
        self.peer = peer
        self.max_frame = max_frame
        channel: tuple[MemoryObjectSendStream[bytes], MemoryObjectReceiveStream[bytes]]
        channel = anyio.create_memory_object_stream[bytes](math.inf)
        self._send, self._receive = channel
        self._subscription: Any = None

    async def subscribe(self) -> None:
        """Start receiving (before the peer is told where to send)."""

        async def deliver(msg: Msg) -> None:
            try:
                self._send.send_nowait(msg.data)
            except (anyio.ClosedResourceError, anyio.BrokenResourceError):
                pass  # this end is closed: nothing reads any more

        self._subscription = await self.client.subscribe(self.inbound, cb=deliver)

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

    async def receive_frame(self) -> bytes:
        """The next frame.

        Raises:
            anyio.EndOfStream: the peer ended the link.
        """
        frame = await self._receive.receive()
        if frame == _EOF:
            raise anyio.EndOfStream
        return frame

    async def send_eof(self) -> None:
        """Tell the peer this direction is over."""
        if not self.client.is_closed:
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
