"""The KeyValue seam: what the cluster needs of a KV store (opaque bytes); no crypto, no NATS.

The cluster keeps members, leases and entity state in one store with
JetStream KV's semantics, which every implementation keeps (one
conformance suite checks them all, tests/cluster/test_kv_conformance.py):

- a *revision* is bucket-wide and only rises: across writes of other
  keys, deletes, expiries and re-creates;
- ``write(expect=N)`` stores only while the key's last revision is N
  (0: the key has no message at all, not even a marker), else `Conflict`;
- ``write(fence=(other, N))`` stores only while *other*'s last revision is
  N (the server-side fence of persisted state on its lease);
- ``write(ttl=s)``: the store expires the value s seconds later, by its own
  clock, late but never early, and leaves an *expiry marker* in its place
  that lives ``MARKER_TTL`` seconds; while it lives, a create
  (``expect=0``) fails: expect the marker's revision instead;
- ``delete`` leaves a delete marker (a revision of its own, kept);
- a watcher sees the last entry of every matching key (values and
  markers, by revision), then None, then every change as it happens,
  in revision order.

Values are opaque bytes here: the cluster seals them (see `_kv.Bucket`)
before they reach any store, so no store ever sees a plaintext.
"""

from __future__ import annotations

import math
import re
from typing import Literal, Protocol

import attrs

# How long a store keeps the marker it leaves when a TTL expires: long
# enough for every watcher to see it (JetStream's minimum is 1 s).
MARKER_TTL = 2.0
# JetStream KV's key syntax (nats-py's `_is_key_valid`), for every store alike.
_KEY = re.compile(r"[-/_=a-zA-Z0-9]+(\.[-/_=a-zA-Z0-9]+)*")

Op = Literal["put", "delete", "expire"]


class Conflict(Exception):
    """A compare-and-set lost: the key (or the fencing key) moved on."""


@attrs.frozen
class Entry:
    """One message of a key: a value, or a marker that the key was deleted or expired.

    Attributes:
        key: the key.
        revision: the message's revision (bucket-wide, rising).
        value: the stored bytes (empty for a marker).
        op: ``put``, ``delete`` (a delete marker) or ``expire`` (an expiry
            marker; on JetStream also a purge, which the cluster never makes).
    """

    key: str
    revision: int
    value: bytes
    op: Op = "put"


class Watcher(Protocol):
    """What `KeyValue.watch` returns: the entries of some keys, as they change."""

    def __aiter__(self) -> Watcher:
        """The watcher itself."""
        ...

    async def __anext__(self) -> Entry | None:
        """The next entry: the current ones first, then None once they are all in, then changes.

        Raises:
            StopAsyncIteration: the watcher was stopped.
        """
        ...

    async def stop(self) -> None:
        """Stop watching: iteration ends."""
        ...


class KeyValue(Protocol):
    """A KV store with JetStream KV's semantics; see this module's docstring."""

    async def read(self, key: str) -> Entry | None:
        """The last message of *key* (a marker included); None if it has none."""
        ...

    async def write(
        self,
        key: str,
        value: bytes,
        *,
        expect: int | None = None,
        ttl: float | None = None,
        fence: tuple[str, int] | None = None,
    ) -> int:
        """Store *value* at *key*; its new revision.

        Args:
            expect: the revision the key must have now (0: no message at all).
            ttl: whole seconds (>= 1) until the store expires the value.
            fence: (another key, the revision it must have now); not with *expect*.

        Raises:
            Conflict: *expect* or *fence* did not hold.
            ValueError: a bad key or ttl, or both *expect* and *fence*.
            ClusterError: the store failed (the write may still have been applied).
        """
        ...

    async def delete(self, key: str, *, expect: int | None = None) -> int:
        """Leave a delete marker at *key* (only at revision *expect*, if given); its revision.

        Raises:
            Conflict: *expect* did not hold.
            ValueError: a bad key.
            ClusterError: the store failed.
        """
        ...

    async def watch(self, prefix: str) -> Watcher:
        """Watch the keys that start with *prefix* (``""`` or ending with ``.``).

        Raises:
            ValueError: a bad prefix.
            ClusterError: the store failed.
        """
        ...

    def reconnects(self) -> int:
        """How often the store's connection was re-established (a watcher may go quiet then)."""
        ...


def check_key(key: object) -> str:
    """*key* if it is a valid KV key (JetStream's syntax).

    Raises:
        ValueError: it is not.
    """
    if not isinstance(key, str) or not _KEY.fullmatch(key):
        raise ValueError(
            f"a KV key must be dot-separated tokens of letters, digits, '-', '/', '_' "
            f"or '=' like 'l.Cart.75', got {key!r}"
        )
    return key


def check_prefix(prefix: object) -> str:
    """*prefix* if it is ``""`` or a valid key followed by ``.``.

    Raises:
        ValueError: it is not.
    """
    if prefix != "" and not (
        isinstance(prefix, str) and prefix.endswith(".") and _KEY.fullmatch(prefix[:-1])
    ):
        raise ValueError(f"a watch prefix must be '' or a key and a dot like 'm.', got {prefix!r}")
    return prefix


def check_write(key: str, ttl: float | None, expect: int | None, fence: object) -> None:
    """Check a write's arguments alike for every store.

    Raises:
        ValueError: a bad key or ttl, or both *expect* and *fence*.
    """
    check_key(key)
    if ttl is not None and not (
        isinstance(ttl, int | float) and math.isfinite(ttl) and ttl >= 1 and ttl == round(ttl)
    ):
        raise ValueError(f"a KV ttl must be whole seconds >= 1 (JetStream's), got {ttl!r}")
    if expect is not None and fence is not None:
        raise ValueError(
            f"a write of {key!r} takes expect= or fence=, not both "
            f"(JetStream checks one expected revision per write)"
        )
