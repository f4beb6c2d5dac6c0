"""Sealed values in the cluster's KV store: sealed before any store sees them; no NATS.

Any client of the NATS server can read and write a KV bucket, so every
value is sealed with ChaCha20-Poly1305 under a key derived from the
cluster's secret (HKDF, its own label), and bound to its bucket and key
by the associated data: a value moved to another key does not open. A
value's size is checked before it is decrypted; nothing is decoded
before it opens::

    value = version (1 byte, 1) | nonce (12 bytes) | ciphertext | tag (16 bytes)
    AAD   = joined("actorlib/1 cluster kv", bucket, key)

The store below is the KeyValue seam (`_store`): a JetStream KV bucket in
production, an in-memory store under simulation; sealing is the same on
both, so no store (and no simulation of one) weakens it.
"""

from __future__ import annotations

import secrets

import attrs

from actorlib.remote._crypto import AEAD_NONCE_BYTES, AEAD_TAG_BYTES, Aead, hkdf, joined

from ._store import Conflict, KeyValue, Watcher

_VERSION = 1
OVERHEAD = 1 + AEAD_NONCE_BYTES + AEAD_TAG_BYTES


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
    """The cluster's values in one KV store, sealed for this cluster.

    Args:
        store: the KeyValue seam (a `JetStreamKV`, or an in-memory store).
        name: the bucket's name (bound into every sealed value).
        secret: the cluster's shared secret.
    """

    def __init__(self, store: KeyValue, name: str, secret: bytes) -> None:
        self.store = store
        self.name = name
        self._aead = Aead(hkdf(secret, salt=b"actorlib cluster", info=b"kv value " + name.encode()))

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
            ClusterError: the store failed.
        """
        entry = await self.store.read(key)
        if entry is None:
            return None
        marker = entry.op != "put"
        plaintext = None if marker else self.unseal(key, entry.value, limit=limit)
        return Found(entry.revision, plaintext, marker)

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
            ttl: seconds until the store expires the value (whole seconds, >= 1).
            fence: (another key, the revision it must have now).

        Raises:
            Conflict: *expect* or *fence* did not hold.
            ClusterError: the store failed (the write may still have been applied).
        """
        value = self.seal(key, plaintext)
        return await self.store.write(key, value, expect=expect, ttl=ttl, fence=fence)

    async def delete(self, key: str, *, expect: int | None = None) -> None:
        """Delete *key* (only at revision *expect*, if given); a lost race is ignored.

        Raises:
            ClusterError: the store failed.
        """
        try:
            await self.store.delete(key, expect=expect)
        except Conflict:
            return  # someone else's now: nothing of ours to delete

    async def watch(self, prefix: str) -> Watcher:
        """Watch the (sealed) entries of the keys that start with *prefix*.

        Raises:
            ClusterError: the store failed.
        """
        return await self.store.watch(prefix)
