"""Sealed values in one JetStream KV bucket: compare-and-set, per-key TTLs, fences; no actors.

Any client of the NATS server can read and write a KV bucket, so every
value is sealed with ChaCha20-Poly1305 under a key derived from the
cluster's secret (HKDF, its own label), and bound to its bucket and key
by the associated data: a value moved to another key does not open. A
value's size is checked before it is decrypted; nothing is decoded
before it opens::

    value = version (1 byte, 1) | nonce (12 bytes) | ciphertext | tag (16 bytes)
    AAD   = joined("actorlib/1 cluster kv", bucket, key)

Writes go through ``js.publish`` with JetStream's headers: the expected
last revision of the key (compare-and-set: 0 means "no value"), a TTL
per write (``Nats-TTL``, whole seconds), and for fenced writes the
expected last revision of *another* key (the lease), checked by the
server in the same step as the write.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any

import attrs

from actorlib.remote._crypto import AEAD_NONCE_BYTES, AEAD_TAG_BYTES, Aead, hkdf, joined

from ._errors import ClusterError

if TYPE_CHECKING:
    from nats.js import JetStreamContext

_VERSION = 1
OVERHEAD = 1 + AEAD_NONCE_BYTES + AEAD_TAG_BYTES
_EXPECT = "Nats-Expected-Last-Subject-Sequence"
_EXPECT_SUBJECT = "Nats-Expected-Last-Subject-Sequence-Subject"
# The server's error code for a compare-and-set that lost.
WRONG_LAST = 10071
# How long the server keeps the marker it writes when a TTL expires: long
# enough for every watcher to see it (a marker must be at least 1 s).
MARKER_TTL = 2.0


class Conflict(Exception):
    """A compare-and-set lost: the key (or the fencing key) moved on."""


@attrs.frozen
class Found:
    """The last message of a key.

    Attributes:
        revision: its revision (bucket-wide, rising: the fencing token).
        plaintext: the opened value; None for a marker, or a value that did
            not open (forged, moved, oversized).
        marker: whether it is a delete or expiry marker (no value).
    """

    revision: int
    plaintext: bytes | None
    marker: bool = False


class Bucket:
    """One KV bucket of sealed values, for one cluster.

    Args:
        js: the JetStream context of a connected client.
        name: the bucket's name (letters, digits, ``-`` and ``_``).
        secret: the cluster's shared secret.
    """

    def __init__(self, js: JetStreamContext, name: str, secret: bytes) -> None:
        self.js = js
        self.name = name
        self.stream = f"KV_{name}"
        self._aead = Aead(hkdf(secret, salt=b"actorlib cluster", info=b"kv value " + name.encode()))
        self.kv: Any = None

    async def open(self) -> None:
        """Create the bucket, or bind to it if it exists.

        Raises:
            ClusterError: JetStream is not enabled on the server, or refused.
        """
        from nats.js.api import KeyValueConfig

        config = KeyValueConfig(bucket=self.name, history=1, limit_marker_ttl=MARKER_TTL)
        try:
            self.kv = await self.js.create_key_value(config)
        except Exception as error:
            raise ClusterError(
                reason=f"cannot open the cluster's JetStream KV bucket {self.name!r}: {error!r}; "
                f"the NATS server must run with JetStream (nats-server -js -sd DIR), "
                f"version 2.11 or later (per-message TTLs)"
            ) from error

    def subject(self, key: str) -> str:
        """The stream subject of *key*."""
        return f"$KV.{self.name}.{key}"

    def seal(self, key: str, plaintext: bytes) -> bytes:
        """*plaintext*, sealed for *key* of this bucket."""
        nonce = secrets.token_bytes(AEAD_NONCE_BYTES)
        return bytes([_VERSION]) + nonce + self._aead.seal(nonce, plaintext, self._aad(key))

    def unseal(self, key: str, value: bytes | None, *, limit: int) -> bytes | None:
        """The plaintext of *value* stored at *key*, or None if it is not ours (or too big)."""
        if not value or len(value) > limit + OVERHEAD or len(value) < OVERHEAD:
            return None
        if value[0] != _VERSION:
            return None
        nonce = value[1 : 1 + AEAD_NONCE_BYTES]
        return self._aead.open(nonce, memoryview(value)[1 + AEAD_NONCE_BYTES :], self._aad(key))

    def _aad(self, key: str) -> bytes:
        return joined(b"actorlib/1 cluster kv", self.name.encode(), key.encode())

    async def read(self, key: str, *, limit: int) -> Found | None:
        """The last message of *key* (None: the key has none at all).

        Raises:
            ClusterError: NATS failed.
        """
        from nats.js.errors import NotFoundError

        try:
            msg = await self.js.get_last_msg(self.stream, self.subject(key))
        except NotFoundError:
            return None
        except Exception as error:
            raise ClusterError(
                reason=f"reading {key!r} from JetStream failed: {error!r}"
            ) from error
        headers = msg.headers or {}
        marker = "KV-Operation" in headers or "Nats-Marker-Reason" in headers
        plaintext = None if marker else self.unseal(key, msg.data, limit=limit)
        return Found(int(msg.seq or 0), plaintext, marker)

    async def write(
        self,
        key: str,
        plaintext: bytes,
        *,
        expect: int | None = None,
        ttl: float | None = None,
        fence: tuple[str, int] | None = None,
    ) -> int:
        """Seal and store *plaintext* at *key*; its new revision.

        Args:
            expect: the revision the key must have now (0: no message at all).
            ttl: seconds until the server expires the value (whole seconds, >= 1).
            fence: (another key, the revision it must have now).

        Raises:
            Conflict: *expect* or *fence* did not hold.
            ClusterError: NATS failed (the write may still have been applied).
        """
        from nats.js.errors import APIError

        headers: dict[str, str] = {}
        if expect is not None:
            headers[_EXPECT] = str(expect)
        if ttl is not None:
            headers["Nats-TTL"] = f"{max(1, round(ttl))}s"
        if fence is not None:
            headers[_EXPECT] = str(fence[1])
            headers[_EXPECT_SUBJECT] = self.subject(fence[0])
        try:
            ack = await self.js.publish(
                self.subject(key), self.seal(key, plaintext), headers=headers or None
            )
        except APIError as error:
            if getattr(error, "err_code", None) == WRONG_LAST:
                raise Conflict(key) from None
            raise ClusterError(reason=f"JetStream refused a write of {key!r}: {error!r}") from error
        except Exception as error:
            raise ClusterError(reason=f"writing {key!r} to JetStream failed: {error!r}") from error
        return int(ack.seq)

    async def delete(self, key: str, *, expect: int | None = None) -> None:
        """Delete *key* (only at revision *expect*, if given); a lost race is ignored.

        Raises:
            ClusterError: NATS failed.
        """
        from nats.js.errors import APIError

        try:
            await self.kv.delete(key, last=expect)
        except APIError:
            return  # someone else's now: nothing of ours to delete
        except Exception as error:
            raise ClusterError(reason=f"deleting {key!r} in JetStream failed: {error!r}") from error
