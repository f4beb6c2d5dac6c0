"""Length-prefixed frames over a byte stream, with a size limit; knows nothing of pickles."""

from __future__ import annotations

import struct
from typing import Protocol

import anyio
import anyio.abc
from anyio.streams.buffered import BufferedByteReceiveStream

from ._errors import FrameTooLarge

DEFAULT_MAX_FRAME = 16 * 1024 * 1024
_HEADER = struct.Struct(">I")


class FrameChannel(Protocol):
    """A two-way channel of whole frames (bytes): what links and the handshake use."""

    peer: str
    max_frame: int

    async def send_frame(self, frame: bytes) -> None:
        """Send one frame.

        Raises:
            FrameTooLarge: *frame* is over `max_frame`.
        """
        ...

    async def receive_frame(self, limit: int | None = None) -> bytes:
        """The next frame, refused if over *limit* (default `max_frame`).

        Raises:
            anyio.EndOfStream: the other end closed the channel.
            FrameTooLarge: the peer announced a frame over the limit.
        """
        ...

    async def send_eof(self) -> None:
        """Send no more frames; the peer's `receive_frame` ends."""
        ...

    async def aclose(self) -> None:
        """Close the channel (idempotent)."""
        ...


def check_max_frame(max_frame: object) -> int:
    """Validate a frame size limit.

    Raises:
        ValueError: not an int between 1 KiB and 2 GiB.
    """
    if isinstance(max_frame, bool) or not isinstance(max_frame, int):
        raise ValueError(f"max_frame must be an int number of bytes, got {max_frame!r}")
    if not 1024 <= max_frame < 2**31:
        raise ValueError(f"max_frame must be between 1024 and 2**31 - 1 bytes, got {max_frame!r}")
    return max_frame


class StreamFrames:
    """Frames on a byte stream: a 4-byte big-endian length, then the payload.

    The length is checked against the limit before a byte of the payload is
    read, so an oversized frame costs the reader nothing.
    """

    def __init__(
        self, stream: anyio.abc.ByteStream, peer: str, max_frame: int = DEFAULT_MAX_FRAME
    ) -> None:
        self.stream = stream
        self.peer = peer
        self.max_frame = check_max_frame(max_frame)
        self._reader = BufferedByteReceiveStream(stream)
        self._send_lock = anyio.Lock()

    async def send_frame(self, frame: bytes) -> None:
        """Send one frame (frames from concurrent senders never interleave).

        Raises:
            FrameTooLarge: *frame* is over the limit.
        """
        if len(frame) > self.max_frame:
            raise FrameTooLarge(size=len(frame), limit=self.max_frame, peer=self.peer)
        async with self._send_lock:
            await self.stream.send(_HEADER.pack(len(frame)) + frame)

    async def receive_frame(self, limit: int | None = None) -> bytes:
        """The next frame, refused from its length prefix if over *limit* (default `max_frame`).

        Raises:
            anyio.EndOfStream: the peer closed the connection.
            anyio.IncompleteRead: it closed in the middle of a frame.
            FrameTooLarge: it announced a frame over the limit.
        """
        (size,) = _HEADER.unpack(await self._reader.receive_exactly(_HEADER.size))
        limit = self.max_frame if limit is None else limit
        if size > limit:
            raise FrameTooLarge(size=size, limit=limit, peer=self.peer)
        return await self._reader.receive_exactly(size) if size else b""

    async def send_eof(self) -> None:
        """Half-close the stream."""
        async with self._send_lock:
            await self.stream.send_eof()

    async def aclose(self) -> None:
        """Close the underlying stream."""
        await self.stream.aclose()
