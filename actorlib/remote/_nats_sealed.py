"""Sealed NATS messages: encrypted, authenticated, fresh, never accepted twice; no I/O.

Any client of a NATS server can read and publish on its subjects, so every
message the NATS transport sends outside a link (link requests, lookups,
group messages, claims, and their answers) is sealed with ChaCha20-Poly1305
under a key derived from the cluster's secret, one key per purpose::

    sealed    = version (1 byte, 2) | nonce (12 bytes) | ciphertext | tag (16 bytes)
    plaintext = timestamp (8 bytes, float64 seconds since the epoch)
                | message id (16 random bytes) | body
    AAD       = joined("actorlib/2 nats", kind, subject, reply subject, answered id)

The associated data binds a sealed message to the subject it was published
on, the reply subject it asks to be answered on, the kind of message, and
(for answers) the id of the request it answers: moved, redirected or
reused elsewhere, it no longer opens. The timestamp and id are inside the
ciphertext: authenticated, and not even visible.
"""

from __future__ import annotations

import heapq
import logging
import secrets
import struct
import time
from collections.abc import Callable

import anyio
import attrs

from actorlib._clock import Clock

from ._crypto import AEAD_NONCE_BYTES, AEAD_TAG_BYTES, Aead, hkdf, joined

logger = logging.getLogger("actorlib.remote")

VERSION = 2
ID_BYTES = 16
_HEADER = struct.Struct(">d16s")  # timestamp, message id
# What sealing adds to a body, in bytes.
OVERHEAD = 1 + AEAD_NONCE_BYTES + _HEADER.size + AEAD_TAG_BYTES
# The default freshness window, in seconds: the largest clock difference
# tolerated between two machines, plus the time a message may spend in transit.
FRESHNESS = 60.0
# The most ids a replay cache holds (about 100 bytes each): enough for a
# sustained ~1,600 authentic requests per second within a 60 s window.
REPLAY_CAPACITY = 100_000
# Refusal warnings of one kind are logged at most once per this many seconds.
WARN_INTERVAL = 5.0


@attrs.define(auto_exc=True, str=False, slots=False)
class Refused(Exception):
    """A NATS message that did not pass: *reason* says why (never its content).

    Attributes:
        reason: why, for the log.
        rule: which rule it broke (``forged``, ``size``, ``stale``, ``replay``,
            ``capacity``, ``malformed``): warnings are rate-limited per rule.
    """

    reason: str
    rule: str = "malformed"

    def __str__(self) -> str:
        return self.reason


@attrs.frozen
class Opened:
    """An authentic, fresh message.

    Attributes:
        id: its random message id (what answers are bound to).
        timestamp: when it was sealed, by its sender's wall clock.
        body: what was sealed.
    """

    id: bytes
    timestamp: float
    body: bytes


def check_freshness(value: object) -> float:
    """Validate a freshness window, in seconds.

    Raises:
        ValueError: not a number of seconds > 0.
    """
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ValueError(
            f"freshness must be a number of seconds > 0 (the clock margin between "
            f"machines, e.g. 60.0), got {value!r}"
        )
    return float(value)


class Sealer:
    """Seals and opens the NATS messages of one purpose (lookups, groups...).

    Args:
        secret: the cluster's shared secret.
        prefix: the transport's subject prefix (clusters sharing a server
            with different prefixes get different keys).
        purpose: the use of this key, e.g. ``"lookup"``.
        freshness: how far, in seconds, a message's timestamp may be from
            this machine's wall clock.
        wall: the wall clock, seconds since the epoch (the transport's `wall`).
    """

    __slots__ = ("_aead", "freshness", "wall")

    def __init__(
        self,
        secret: bytes,
        prefix: str,
        purpose: str,
        *,
        freshness: float = FRESHNESS,
        wall: Callable[[], float] = time.time,
    ) -> None:
        info = b"actorlib/2 nats " + purpose.encode() + b" " + prefix.encode()
        self._aead = Aead(hkdf(secret, salt=b"actorlib/2 nats", info=info))
        self.freshness = freshness
        # Freshness across machines needs a shared notion of time: the wall
        # clock (NTP-disciplined), not the monotonic Clock seam, which means
        # nothing on another machine. Its skew is what the window tolerates.
        self.wall = wall

    def seal(
        self,
        kind: str,
        subject: str,
        body: bytes,
        *,
        reply: str = "",
        answers: bytes = b"",
        timestamp: float | None = None,
    ) -> tuple[bytes, bytes]:
        """A fresh message id and the sealed message carrying *body*."""
        message_id = secrets.token_bytes(ID_BYTES)
        # Random nonces: many nodes seal under the same key, and a counter
        # would need coordination between them; 96 random bits make a
        # repeat negligible (below 2**-32 after 2**32 messages per key).
        nonce = secrets.token_bytes(AEAD_NONCE_BYTES)
        when = self.wall() if timestamp is None else timestamp
        plaintext = _HEADER.pack(when, message_id) + body
        sealed = self._aead.seal(nonce, plaintext, _aad(kind, subject, reply, answers))
        return message_id, bytes([VERSION]) + nonce + sealed

    def open(
        self,
        kind: str,
        subject: str,
        data: bytes,
        *,
        limit: int,
        reply: str = "",
        answers: bytes = b"",
    ) -> Opened:
        """The authentic, fresh message in *data*.

        Args:
            kind: the kind of message expected.
            subject: the subject it arrived on.
            data: the raw NATS payload.
            limit: the largest body expected (larger is refused before decrypting).
            reply: the reply subject it came with.
            answers: for an answer, the id of the request it must answer.

        Raises:
            Refused: oversized, not sealed with this key for this subject,
                kind, reply and request, or outside the freshness window.
        """
        if len(data) > limit + OVERHEAD:
            raise Refused(
                f"too large ({len(data)} bytes, at most {limit + OVERHEAD} expected)", "size"
            )
        if len(data) < OVERHEAD or data[0] != VERSION:
            raise Refused("not a sealed actorlib message (too short or another version)", "forged")
        nonce, sealed = data[1 : 1 + AEAD_NONCE_BYTES], data[1 + AEAD_NONCE_BYTES :]
        plaintext = self._aead.open(nonce, sealed, _aad(kind, subject, reply, answers))
        if plaintext is None:
            raise Refused(
                "it does not open with the cluster's key (forged, altered, sealed for "
                "another subject or request, or the nodes do not share the secret)",
                "forged",
            )
        timestamp, message_id = _HEADER.unpack_from(plaintext)
        skew = self.wall() - timestamp
        if not abs(skew) <= self.freshness:  # NaN is refused too
            raise Refused(
                f"stale: sealed {skew:.1f} s before this machine's clock, outside the "
                f"{self.freshness:g} s freshness window (a replay, or clocks out of sync)",
                "stale",
            )
        return Opened(message_id, timestamp, plaintext[_HEADER.size :])


def _aad(kind: str, subject: str, reply: str, answers: bytes) -> bytes:
    return joined(b"actorlib/2 nats", kind.encode(), subject.encode(), reply.encode(), answers)


class ReplayCache:
    """The ids of authentic messages seen within the freshness window.

    Memory is bounded twice: an id is forgotten once its message would be
    stale anyway (timestamp + window), and at most *capacity* ids are kept.
    Only authentic messages get here (attackers cannot forge), so the cap
    bounds legitimate bursts; beyond it, new messages are refused rather
    than remembered badly: refusing fails closed (a lookup is retried), while
    forgetting an id early would let its replay through.
    """

    __slots__ = ("_expiries", "_ids", "capacity")

    def __init__(self, capacity: int = REPLAY_CAPACITY) -> None:
        self.capacity = capacity
        self._ids: set[bytes] = set()
        self._expiries: list[tuple[float, bytes]] = []

    def __len__(self) -> int:
        return len(self._ids)

    def admit(self, opened: Opened, sealer: Sealer) -> None:
        """Remember *opened*'s id.

        Raises:
            Refused: it was seen before, or the cache is full.
        """
        now = sealer.wall()
        expiries = self._expiries
        while expiries and expiries[0][0] < now:
            self._ids.discard(heapq.heappop(expiries)[1])
        if opened.id in self._ids:
            raise Refused("a replay (its id was seen within the freshness window)", "replay")
        if len(self._ids) >= self.capacity:
            raise Refused(
                f"too many messages within the freshness window (the replay cache holds "
                f"{self.capacity} ids); refused rather than risk accepting a replay",
                "capacity",
            )
        self._ids.add(opened.id)
        heapq.heappush(expiries, (opened.timestamp + sealer.freshness, opened.id))


class RefusalLog:
    """Warnings about refused NATS messages: one line each, at most one per kind per interval.

    An attacker can publish as fast as the server lets it; each kind of
    refusal (a rule broken on a subject) is logged at once the first time,
    then at most once per *interval* with a count of the ones left unlogged
    since: a flood of forgeries does not hide a clock out of sync. The
    interval is measured on *clock* (the system's; None: the event loop's).
    """

    __slots__ = ("_next", "_now", "_suppressed", "count", "interval", "node")

    def __init__(
        self, node: str, interval: float = WARN_INTERVAL, *, clock: Clock | None = None
    ) -> None:
        self.node = node
        self.interval = interval
        self._now: Callable[[], float] = anyio.current_time if clock is None else clock.now
        self.count = 0  # messages refused so far, logged or not
        self._next: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def refuse(self, where: str, error: Refused | str) -> None:
        """Log the refusal of a message on *where* (a subject of ours, never the attacker's)."""
        self.count += 1
        key = f"{where} {error.rule if isinstance(error, Refused) else 'other'}"
        now = self._now()
        if now < self._next.get(key, -float("inf")):
            self._suppressed[key] = self._suppressed.get(key, 0) + 1
            return
        self._next[key] = now + self.interval
        more = self._suppressed.pop(key, 0)
        logger.warning(
            "node %s refused a message on %s: %s%s",
            self.node,
            where,
            error,
            f" ({more} more like it in the last {self.interval:g} s)" if more else "",
        )
