"""The KeyValue seam in memory on the Clock seam, as JetStream KV behaves; no crypto, no NATS.

No server, no network: one process's tasks share it. Time is read from
the Clock it is given (a `VirtualClock` under simulation), so TTLs expire
when virtual time reaches them. It keeps every promise of the seam (see
`_store`), checked by the same conformance suite as the JetStream bucket:
bucket-wide revisions, compare-and-set and fences, per-key TTLs that
expire late (by ``lateness``) but never early and leave a marker for
``marker_ttl`` seconds, delete markers, and watchers that see every
change in revision order.

Expiry needs no task of its own: every operation first expires what is
due, and a waiting watcher sleeps on the clock until the next expiry. So
expiries get their revisions in the order of their deadlines, before any
later write, whoever notices them first.
"""

from __future__ import annotations

import heapq
import math
from collections import deque

import anyio
import anyio.lowlevel

from actorlib._clock import Clock

from ._store import MARKER_TTL, Conflict, Entry, Op, check_key, check_prefix, check_write


class MemoryKV:
    """A KeyValue store in memory whose TTLs run on *clock*.

    Args:
        clock: the Clock seam TTLs are measured on (the system's clock).
        lateness: seconds after its TTL that a value expires (JetStream:
            0.002 to 0.3 s measured); never negative: expiry is never early.
        marker_ttl: seconds an expiry marker lives.
    """

    def __init__(
        self, clock: Clock, *, lateness: float = 0.0, marker_ttl: float = MARKER_TTL
    ) -> None:
        if not (math.isfinite(lateness) and lateness >= 0):
            raise ValueError(
                f"lateness must be seconds >= 0 (expiry is never early), got {lateness!r}"
            )
        if not (math.isfinite(marker_ttl) and marker_ttl > 0):
            raise ValueError(f"marker_ttl must be seconds > 0, got {marker_ttl!r}")
        self.clock = clock
        self.lateness = lateness
        self.marker_ttl = marker_ttl
        self._revision = 0
        # Invariant: the last message of every key that has one (values and markers).
        self._last: dict[str, Entry] = {}
        # (when, revision, key): the message at that revision goes at that time,
        # unless the key has moved on (then the item is stale and skipped).
        self._expiries: list[tuple[float, int, str]] = []
        self._watchers: list[_MemoryWatcher] = []
        self._changed = anyio.Event()

    async def read(self, key: str) -> Entry | None:
        """The last message of *key* (a marker included); None if it has none.

        Raises:
            ValueError: a bad key.
        """
        check_key(key)
        await anyio.lowlevel.checkpoint()
        self.expire_due()
        return self._last.get(key)

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
        """
        check_write(key, ttl, expect, fence)
        if fence is not None:
            check_key(fence[0])
        await anyio.lowlevel.checkpoint()
        self.expire_due()
        if fence is not None and self._revision_of(fence[0]) != fence[1]:
            raise Conflict(key)
        if expect is not None and self._revision_of(key) != expect:
            raise Conflict(key)
        expires = None if ttl is None else self.clock.now() + ttl + self.lateness
        return self._append(key, bytes(value), "put", expires)

    async def delete(self, key: str, *, expect: int | None = None) -> int:
        """Leave a delete marker at *key*; its revision (see `KeyValue.delete`).

        Raises:
            Conflict: *expect* did not hold.
            ValueError: a bad key.
        """
        check_key(key)
        await anyio.lowlevel.checkpoint()
        self.expire_due()
        if expect is not None and self._revision_of(key) != expect:
            raise Conflict(key)
        return self._append(key, b"", "delete", None)

    async def watch(self, prefix: str) -> _MemoryWatcher:
        """Watch the keys that start with *prefix* (see `KeyValue.watch`).

        Raises:
            ValueError: a bad prefix.
        """
        check_prefix(prefix)
        await anyio.lowlevel.checkpoint()
        self.expire_due()
        current = sorted(
            (e for k, e in self._last.items() if k.startswith(prefix)),
            key=lambda entry: entry.revision,
        )
        watcher = _MemoryWatcher(self, prefix, current)
        self._watchers.append(watcher)
        return watcher

    def reconnects(self) -> int:
        """Always 0: there is no connection to lose."""
        return 0

    def expire_due(self) -> None:
        """Expire every value (and remove every marker) whose time has come, in deadline order."""
        now = self.clock.now()
        while self._expiries and self._expiries[0][0] <= now:
            when, revision, key = heapq.heappop(self._expiries)
            entry = self._last.get(key)
            if entry is None or entry.revision != revision:
                continue  # the key moved on: this TTL no longer applies
            if entry.op == "expire":
                del self._last[key]  # the marker's time is up: the key has no message
            else:
                self._append(key, b"", "expire", when + self.marker_ttl)

    def _revision_of(self, key: str) -> int:
        entry = self._last.get(key)
        return 0 if entry is None else entry.revision

    def _append(self, key: str, value: bytes, op: Op, expires: float | None) -> int:
        self._revision += 1
        entry = Entry(key, self._revision, value, op)
        self._last[key] = entry
        if expires is not None:
            heapq.heappush(self._expiries, (expires, self._revision, key))
        for watcher in self._watchers:
            if key.startswith(watcher.prefix):
                watcher.queue.append(entry)
        self._changed.set()
        self._changed = anyio.Event()
        return self._revision

    def _next_expiry(self) -> float:
        while self._expiries:
            when, revision, key = self._expiries[0]
            entry = self._last.get(key)
            if entry is not None and entry.revision == revision:
                return when
            heapq.heappop(self._expiries)  # stale: the key moved on
        return math.inf

    async def _wait_for_change(self) -> None:
        """Return after the next change, or once the next expiry is due."""
        changed, deadline = self._changed, self._next_expiry()
        if math.isinf(deadline):
            await changed.wait()
            return
        async with anyio.create_task_group() as group:

            async def timer() -> None:
                await self.clock.sleep_until(deadline)
                group.cancel_scope.cancel()

            group.start_soon(timer)
            await changed.wait()
            group.cancel_scope.cancel()


class _MemoryWatcher:
    """The entries of one prefix of a `MemoryKV`, as they change."""

    def __init__(self, store: MemoryKV, prefix: str, current: list[Entry]) -> None:
        self.store = store
        self.prefix = prefix
        self.queue: deque[Entry | None] = deque([*current, None])
        self.stopped = False

    def __aiter__(self) -> _MemoryWatcher:
        return self

    async def __anext__(self) -> Entry | None:
        while not self.stopped:
            self.store.expire_due()
            if self.queue:
                return self.queue.popleft()
            await self.store._wait_for_change()
        raise StopAsyncIteration

    async def stop(self) -> None:
        """Stop watching: iteration ends."""
        self.stopped = True
        if self in self.store._watchers:
            self.store._watchers.remove(self)
        self.store._changed.set()
        self.store._changed = anyio.Event()
