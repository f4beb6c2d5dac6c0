"""Sealed frames: after the handshake, every frame is numbered and MACed (or encrypted).

A sealed frame is ``seq (8 bytes) || body || tag``. On a private stream
(a socket, memory) the tag is a keyed BLAKE2b MAC (RFC 7693, 32 bytes) over
the link id, the direction, the sequence number, the body's length and the
body; on a shared medium (NATS, where any client of the server can read and
publish) the body is encrypted with ChaCha20-Poly1305 instead, with the same
fields as associated data. The receiver checks the tag and then that the
number is exactly one more than the last, *before* anything decodes the
body: a forged, altered, replayed, reordered or missing frame never reaches
the unpickler.

A private stream that carries one bad frame is closed: it can no longer be
trusted to be in step. On a shared medium anyone can publish to a link's
subject, so a frame that fails its tag or repeats an old number is dropped
and counted there instead (closing the link would hand every client of the
server a way to cut it); a well-sealed frame that skips numbers (frames lost
in transit) still closes the link, since what follows would break the order.
An empty body is the sealed end of stream: an unauthenticated one is ignored.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import struct
from collections.abc import Callable
from typing import Protocol

import anyio

from actorlib._clock import Clock

from ._auth import Session
from ._crypto import AEAD_TAG_BYTES, TAG_BYTES, Aead
from ._errors import FrameTooLarge, IntegrityError
from ._framing import FrameChannel

logger = logging.getLogger("actorlib.remote")

_SEQ = struct.Struct(">Q")
_MAC_HEADER = struct.Struct(">16scQQ")  # link id, direction, seq, body length
# The most a seal adds to a frame (the MAC's; the AEAD's is smaller).
SEAL_OVERHEAD = _SEQ.size + TAG_BYTES
# Dropped frames on a shared medium are logged at most this often (seconds).
_DROP_LOG_EVERY = 5.0


class OpeningChannel(Protocol):
    """A channel on a shared medium that can open frames as they arrive.

    It runs *opener* on each raw frame before queueing it (dropping None), so
    forged frames never take room in its queue.
    """

    def install_opener(self, opener: Callable[[bytes], bytes | None]) -> None:
        """Open every frame from now on (and those already queued) with *opener*."""
        ...


class SealedFrames:
    """A frame channel whose frames are sealed with a link's session keys.

    Args:
        channel: the channel the handshake ran on.
        session: what the handshake agreed.
        clock: what times the log of dropped frames (the system's; None: the
            event loop's clock).

    Raises:
        RuntimeError: the channel is on a shared medium and ``cryptography``
            is not installed.
    """

    def __init__(
        self, channel: FrameChannel, session: Session, *, clock: Clock | None = None
    ) -> None:
        self.channel = channel
        self.session = session
        self.peer = channel.peer
        self.max_frame = channel.max_frame
        # Sealed frames are bigger than the bodies the link limits: the raw
        # channel carries only sealed frames from now on.
        channel.max_frame = self.max_frame + SEAL_OVERHEAD
        self.shared = bool(getattr(channel, "shared", False))
        mine, theirs = (b"c", b"a") if session.initiator else (b"a", b"c")
        self._send_direction, self._receive_direction = mine, theirs
        self._sent = 0
        self._received = 0
        self._dropped = 0
        self._dropped_logged_at = -_DROP_LOG_EVERY
        self._now: Callable[[], float] = anyio.current_time if clock is None else clock.now
        self._seal: Callable[[int, bytes], bytes]
        self._open_tagged: Callable[[int, bytes], bytes | None]
        if self.shared:
            send_cipher, receive_cipher = Aead(session.send_key), Aead(session.receive_key)
            self._seal = lambda seq, body: (
                _SEQ.pack(seq)
                + send_cipher.seal(self._nonce(mine, seq), body, self._associated(mine, seq))
            )
            self._open_tagged = lambda seq, frame: receive_cipher.open(
                self._nonce(theirs, seq),
                memoryview(frame)[_SEQ.size :],  # no copy of a large frame
                self._associated(theirs, seq),
            )
        else:
            self._seal = lambda seq, body: b"".join(
                (_SEQ.pack(seq), body, self._mac(session.send_key, mine, seq, body))
            )  # one copy of a large body
            self._open_tagged = self._check_mac
        install = getattr(channel, "install_opener", None)
        self._opened_below = install is not None
        if install is not None:
            install(self.open)

    def __repr__(self) -> str:
        return f"<SealedFrames with {self.peer}>"

    # ------------------------------------------------------------ the seals

    def _nonce(self, direction: bytes, seq: int) -> bytes:
        return direction * 4 + _SEQ.pack(seq)

    def _associated(self, direction: bytes, seq: int) -> bytes:
        return self.session.link_id + direction + _SEQ.pack(seq)

    def _mac(self, key: bytes, direction: bytes, seq: int, body: bytes | memoryview) -> bytes:
        # Keyed BLAKE2b is a MAC by design (no HMAC construction needed), and
        # in the link's hot path it costs 2.6 µs a frame against HMAC-SHA256's
        # 6.9 µs (measured in place, small frames; an ask seals two, opens two).
        header = _MAC_HEADER.pack(self.session.link_id, direction, seq, len(body))
        mac = hashlib.blake2b(header, key=key, digest_size=TAG_BYTES)
        mac.update(body)  # no copy of a large body
        return mac.digest()

    def _check_mac(self, seq: int, frame: bytes) -> bytes | None:
        body = frame[_SEQ.size : -TAG_BYTES]  # the one copy: what the link decodes
        expected = self._mac(self.session.receive_key, self._receive_direction, seq, body)
        return body if hmac.compare_digest(frame[-TAG_BYTES:], expected) else None

    def open(self, frame: bytes) -> bytes | None:
        """The body of a sealed frame; None if a shared medium drops it.

        Raises:
            IntegrityError: the frame is forged, altered or replayed (on a
                private stream), or frames before it are missing.
        """
        minimum = _SEQ.size + (AEAD_TAG_BYTES if self.shared else TAG_BYTES)
        body = None
        if len(frame) >= minimum:
            (seq,) = _SEQ.unpack_from(frame)
            body = self._open_tagged(seq, frame)
        if body is None:
            self._refuse("a frame failed its authentication tag (forged or altered)")
            return None
        expected = self._received + 1
        if seq < expected:
            self._refuse(f"frame {seq} came again after {self._received} (a replay)")
            return None
        if seq > expected:
            raise IntegrityError(
                peer=self.peer,
                problem=f"frames {expected} to {seq - 1} never arrived (lost in transit)",
            )
        self._received = seq
        return body

    def _refuse(self, problem: str) -> None:
        if not self.shared:
            raise IntegrityError(peer=self.peer, problem=problem)
        self._dropped += 1
        now = self._now()
        if now - self._dropped_logged_at >= _DROP_LOG_EVERY:
            self._dropped_logged_at = now
            logger.warning(
                "dropped %d frame(s) on the link with %s that its peer did not send: %s",
                self._dropped,
                self.peer,
                problem,
            )
            self._dropped = 0
        return

    # ------------------------------------------------------------ FrameChannel

    async def send_frame(self, frame: bytes) -> None:
        """Seal and send one frame.

        Raises:
            FrameTooLarge: *frame* is over the limit.
        """
        if len(frame) > self.max_frame:
            raise FrameTooLarge(size=len(frame), limit=self.max_frame, peer=self.peer)
        await self._send_sealed(frame)

    async def _send_sealed(self, body: bytes) -> None:
        # Numbered and sealed before the first await: frames from one task
        # keep their order through the channel's own send lock.
        self._sent += 1
        seq = self._sent
        await self.channel.send_frame(self._seal(seq, body))

    async def receive_frame(self, limit: int | None = None) -> bytes:
        """The body of the next authentic frame.

        Raises:
            anyio.EndOfStream: the peer ended the link (a sealed end of stream).
            IntegrityError: a bad frame (see `open`).
            FrameTooLarge: the peer announced a frame over the limit.
        """
        while True:
            frame = await self.channel.receive_frame()
            body = frame if self._opened_below else self.open(frame)
            if body is None:
                continue
            if not body:
                raise anyio.EndOfStream
            return body

    async def send_eof(self) -> None:
        """Send a sealed end of stream (and half-close a stream)."""
        await self._send_sealed(b"")
        if not self.shared:
            await self.channel.send_eof()

    async def aclose(self) -> None:
        """Close the underlying channel."""
        await self.channel.aclose()
