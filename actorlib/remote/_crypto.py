"""Keys, tags and ciphers for actorlib.remote: HKDF, HMAC-SHA256, ChaCha20-Poly1305; no I/O.

Every key on the wire is derived from the cluster's shared secret with
HKDF-SHA256 (RFC 5869) and a label naming its one use, so a key made for one
purpose (a link direction, the cluster's NATS messages) is useless for any
other. MACs cover length-prefixed parts, so no two different lists of parts
are ever MACed as the same bytes. The AEAD comes from ``cryptography`` (the
``nats`` extra); everything else is the standard library.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from typing import Any

KEY_BYTES = 32
TAG_BYTES = 32  # HMAC-SHA256, untruncated
AEAD_TAG_BYTES = 16  # Poly1305
AEAD_NONCE_BYTES = 12
_LENGTH = struct.Struct(">I")


def hkdf(secret: bytes, *, salt: bytes, info: bytes, length: int = KEY_BYTES) -> bytes:
    """HKDF-SHA256: a key of *length* bytes for the use named by *info*."""
    prk = hmac.digest(salt or bytes(32), secret, "sha256")
    out, block, counter = b"", b"", 1
    while len(out) < length:
        block = hmac.digest(prk, block + info + bytes([counter]), "sha256")
        out += block
        counter += 1
    return out[:length]


def joined(*parts: bytes) -> bytes:
    """*parts*, each behind its 4-byte length: an unambiguous encoding for MACs and AADs."""
    return b"".join(_LENGTH.pack(len(part)) + part for part in parts)


def tag(key: bytes, *parts: bytes) -> bytes:
    """The HMAC-SHA256 of *parts* (length-prefixed) under *key*."""
    return hmac.digest(key, joined(*parts), "sha256")


def tags_equal(a: bytes, b: bytes) -> bool:
    """Compare two tags in constant time."""
    return hmac.compare_digest(a, b)


def digest(*parts: bytes) -> bytes:
    """SHA-256 of *parts* (length-prefixed): transcript hashes and link ids."""
    return hashlib.sha256(joined(*parts)).digest()


def aead_available() -> bool:
    """Whether ``cryptography`` is installed (the ``nats`` extra)."""
    try:
        import cryptography.hazmat.primitives.ciphers.aead  # noqa: F401
    except ImportError:
        return False
    return True


class Aead:
    """ChaCha20-Poly1305 under one key: authenticated encryption with associated data.

    Args:
        key: 32 bytes, from `hkdf`.

    Raises:
        RuntimeError: ``cryptography`` is not installed; the message names the extra.
    """

    __slots__ = ("_cipher", "_invalid")

    def __init__(self, key: bytes) -> None:
        try:
            from cryptography.exceptions import InvalidTag
            from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
        except ImportError:
            raise RuntimeError(
                "encrypting NATS messages needs the cryptography package: "
                'pip install "actorlib[nats]"'
            ) from None
        self._cipher: Any = ChaCha20Poly1305(key)
        self._invalid: type[Exception] = InvalidTag

    def seal(self, nonce: bytes, plaintext: bytes, associated: bytes) -> bytes:
        """The ciphertext of *plaintext*, with its 16-byte tag at the end."""
        sealed: bytes = self._cipher.encrypt(nonce, plaintext, associated)
        return sealed

    def open(self, nonce: bytes, sealed: bytes | memoryview, associated: bytes) -> bytes | None:
        """The plaintext, or None if *sealed* or *associated* was not made with this key."""
        try:
            plaintext: bytes = self._cipher.decrypt(nonce, sealed, associated)
        except self._invalid:
            return None
        return plaintext
