"""The KeyValue seam on a JetStream KV bucket; knows nothing of sealing or of the cluster.

Writes go through ``js.publish`` with JetStream's headers: the expected
last revision of the key (compare-and-set: 0 means "no message"), a TTL
per write (``Nats-TTL``, whole seconds), and for fenced writes the
expected last revision of *another* key (the lease), checked by the
server in the same step as the write. The bucket keeps one message per
key and leaves an expiry marker for ``MARKER_TTL`` seconds
(``limit_marker_ttl``, nats-server 2.11 and later).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._errors import ClusterError
from ._store import MARKER_TTL, Conflict, Entry, Op, check_key, check_prefix, check_write

if TYPE_CHECKING:
    from nats.js import JetStreamContext

_EXPECT = "Nats-Expected-Last-Subject-Sequence"
_EXPECT_SUBJECT = "Nats-Expected-Last-Subject-Sequence-Subject"
# The server's error code for a compare-and-set that lost.
WRONG_LAST = 10071


def _op(headers: dict[str, str] | None) -> Op:
    """A message's operation, from the headers JetStream (or nats-py) put on it."""
    headers = headers or {}
    operation = headers.get("KV-Operation")
    reason = headers.get("Nats-Marker-Reason")
    if operation == "DEL" or reason == "Remove":
        return "delete"
    if operation == "PURGE" or reason is not None:
        return "expire"
    return "put"


class JetStreamKV:
    """The KeyValue seam on the JetStream KV bucket *name*.

    Args:
        js: the JetStream context of a connected client.
        name: the bucket's name (letters, digits, ``-`` and ``_``).
    """

    def __init__(self, js: JetStreamContext, name: str) -> None:
        self.js = js
        self.name = name
        self.stream = f"KV_{name}"
        self._kv: Any = None

    async def open(self) -> None:
        """Create the bucket, or bind to it if it exists.

        Raises:
            ClusterError: JetStream is not enabled on the server, or refused.
        """
        from nats.js.api import KeyValueConfig

        config = KeyValueConfig(bucket=self.name, history=1, limit_marker_ttl=MARKER_TTL)
        try:
            self._kv = await self.js.create_key_value(config)
        except Exception as error:
            raise ClusterError(
                reason=f"cannot open the cluster's JetStream KV bucket {self.name!r}: {error!r}; "
                f"the NATS server must run with JetStream (nats-server -js -sd DIR), "
                f"version 2.11 or later (per-message TTLs)"
            ) from error

    def subject(self, key: str) -> str:
        """The stream subject of *key*."""
        return f"$KV.{self.name}.{key}"

    async def read(self, key: str) -> Entry | None:
        """The last message of *key* (a marker included); None if it has none.

        Raises:
            ValueError: a bad key.
            ClusterError: NATS failed.
        """
        from nats.js.errors import NotFoundError

        check_key(key)
        try:
            msg = await self.js.get_last_msg(self.stream, self.subject(key))
        except NotFoundError:
            return None
        except Exception as error:
            raise ClusterError(
                reason=f"reading {key!r} from JetStream failed: {error!r}"
            ) from error
        return Entry(key, int(msg.seq or 0), bytes(msg.data or b""), _op(msg.headers))

    async def write(
        self,
        key: str,
        value: bytes,
        *,
        expect: int | None = None,
        ttl: float | None = None,
        fence: tuple[str, int] | None = None,
    ) -> int:
        """Store *value* at *key*; its new revision (see `KeyValue.write`).

        Raises:
            Conflict: *expect* or *fence* did not hold.
            ValueError: a bad key or ttl, or both *expect* and *fence*.
            ClusterError: NATS failed (the write may still have been applied).
        """
        check_write(key, ttl, expect, fence)
        headers: dict[str, str] = {}
        if expect is not None:
            headers[_EXPECT] = str(expect)
        if ttl is not None:
            headers["Nats-TTL"] = f"{round(ttl)}s"
        if fence is not None:
            headers[_EXPECT] = str(fence[1])
            headers[_EXPECT_SUBJECT] = self.subject(check_key(fence[0]))
        return await self._publish(key, value, headers)

    async def delete(self, key: str, *, expect: int | None = None) -> int:
        """Leave a delete marker at *key*; its revision (see `KeyValue.delete`).

        Raises:
            Conflict: *expect* did not hold.
            ValueError: a bad key.
            ClusterError: NATS failed.
        """
        check_key(key)
        headers = {"KV-Operation": "DEL"}
        if expect is not None:
            headers[_EXPECT] = str(expect)
        return await self._publish(key, b"", headers)

    async def _publish(self, key: str, value: bytes, headers: dict[str, str]) -> int:
        from nats.js.errors import APIError

        try:
            ack = await self.js.publish(self.subject(key), value, headers=headers or None)
        except APIError as error:
            if getattr(error, "err_code", None) == WRONG_LAST:
                raise Conflict(key) from None
            raise ClusterError(reason=f"JetStream refused a write of {key!r}: {error!r}") from error
        except Exception as error:
            raise ClusterError(reason=f"writing {key!r} to JetStream failed: {error!r}") from error
        return int(ack.seq)

    async def watch(self, prefix: str) -> _Watcher:
        """Watch the keys that start with *prefix* (see `KeyValue.watch`).

        Raises:
            ValueError: a bad prefix.
            ClusterError: NATS failed.
        """
        check_prefix(prefix)
        try:
            return _Watcher(await self._kv.watch(prefix + ">"))
        except Exception as error:
            raise ClusterError(
                reason=f"watching {prefix!r} in JetStream failed: {error!r}"
            ) from error

    def reconnects(self) -> int:
        """How often the client reconnected to the server (nats-py's statistics)."""
        stats: dict[str, int] = getattr(self.js._nc, "stats", {})
        return int(stats.get("reconnects", 0))


class _Watcher:
    """A nats-py KV watcher, yielding `Entry` (or None once the current ones are in)."""

    def __init__(self, watcher: Any) -> None:
        self._watcher = watcher

    def __aiter__(self) -> _Watcher:
        return self

    async def __anext__(self) -> Entry | None:
        entry = await self._watcher.__anext__()  # StopAsyncIteration once stopped
        if entry is None:
            return None
        operation = entry.operation  # nats-py: None, "DEL", or "PURGE" (also for expiry markers)
        op: Op = "delete" if operation == "DEL" else "expire" if operation == "PURGE" else "put"
        return Entry(entry.key, int(entry.revision), bytes(entry.value or b""), op)

    async def stop(self) -> None:
        """Stop the nats-py watcher (iteration ends)."""
        await self._watcher.stop()
