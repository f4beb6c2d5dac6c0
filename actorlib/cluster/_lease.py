"""Leases on entity keys: acquire by compare-and-set, renew, self-fence by a deadline; no actors.

A lease is the key ``l.<kind>.<key>`` of the cluster's bucket, written
with a TTL of ``ttl`` seconds by compare-and-set. The revision of the
write that holds it is the activation's *fencing token*: it rises with
every write of the bucket, so a newer activation always has a larger one.

**Clock margins.** The server expires a lease ``ttl`` seconds after it
stored the write, by its own clock, and never early (measured: 2 to 226 ms
late). The holder measures from *before* it sent the write (``sent``), on
its own monotonic clock (the system's Clock seam), so the server's expiry
is at least ``sent + ttl`` in real time, less the rate difference between
the two clocks (``drift``).
The holder must have stopped its activation by then, with room for the time
stopping takes (``stop_margin``) and for a pause of the whole process
(``pause_margin``: a GC pause, a frozen VM) that it cannot notice while
paused. So it treats the lease as valid until::

    deadline = sent + ttl * (1 - drift) - stop_margin - pause_margin

and renews every ``renew_every`` seconds, which leaves
``(deadline - sent) / renew_every`` tries before the deadline. With the
defaults (ttl 4 s, drift 0.001, stop 0.5 s, pause 1 s, renewals every
0.8 s) that is ``sent + 2.496 s`` and three tries; a key whose holder was
killed is free again within about 4.3 s.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from typing import Any

import anyio
import attrs

from actorlib._clock import TimerHandle, TimerQueue, move_on_after, sleep

from ._errors import ClusterError
from ._kv import Bucket
from ._store import Conflict

logger = logging.getLogger("actorlib.cluster")

# The largest lease value accepted (before it is decrypted).
MAX_LEASE = 2048


@attrs.frozen
class LeaseTiming:
    """The lease margins; see this module's docstring.

    Attributes:
        ttl: seconds until the server expires an unrenewed lease (whole, >= 1).
        renew_every: seconds between renewals.
        drift: the rate difference between the holder's and the server's clocks.
        stop_margin: seconds the holder allows itself to stop an activation.
        pause_margin: the longest process pause tolerated, in seconds.
    """

    ttl: float = 4.0
    renew_every: float = 0.8
    drift: float = 0.001
    stop_margin: float = 0.5
    pause_margin: float = 1.0

    def __attrs_post_init__(self) -> None:
        if self.ttl < 1 or self.ttl != round(self.ttl):
            raise ValueError(f"lease ttl must be whole seconds >= 1, got {self.ttl!r}")
        if not self.valid_for > self.renew_every > 0:
            raise ValueError(
                f"a lease of {self.ttl:g} s leaves {self.valid_for:.3f} s after the margins "
                f"(drift {self.drift}, stop {self.stop_margin:g} s, pause "
                f"{self.pause_margin:g} s): renew_every ({self.renew_every:g} s) must be "
                f"> 0 and shorter; raise ttl or lower the margins"
            )

    @property
    def valid_for(self) -> float:
        """Seconds after sending a write during which its lease is treated as held."""
        return self.ttl * (1 - self.drift) - self.stop_margin - self.pause_margin


@attrs.frozen
class Holder:
    """Who holds a lease: a member's node and its region (where messages go).

    Attributes:
        node: the member's node id.
        region: the region's ref id (node, address, path, uid).
    """

    node: str
    region: tuple[str, str | None, str, int]

    def encode(self) -> bytes:
        """The lease's plaintext (JSON)."""
        return json.dumps({"node": self.node, "region": list(self.region)}).encode()

    @classmethod
    def decode(cls, plaintext: bytes) -> Holder | None:
        """The holder in an authentic lease, or None if malformed."""
        try:
            data = json.loads(plaintext)
            node, (rnode, address, path, uid) = data["node"], data["region"]
        except (ValueError, KeyError, TypeError):
            return None
        if not (
            isinstance(node, str)
            and rnode == node
            and isinstance(address, str)
            and isinstance(path, str)
            and isinstance(uid, int)
        ):
            return None
        return cls(node, (rnode, address, path, uid))


class Lease:
    """One held lease: its revision (the fencing token) and until when it is valid.

    Renewals and fenced writes go through `lock`, so that each uses the
    revision the other left. Time is the Clock seam of *timers* (the
    system's timer queue): the deadline, and the timers that cancel the
    scopes guarded by the lease when it passes, are on that clock.
    """

    def __init__(
        self, bucket: Bucket, key: str, timing: LeaseTiming, holder: Holder, *, timers: TimerQueue
    ) -> None:
        self.bucket = bucket
        self.key = key
        self.timing = timing
        self.holder = holder
        self.timers = timers
        self.revision = 0
        self.deadline = -1.0  # on timers.clock; nothing is valid before the first write
        self.lost = False
        self.lock = anyio.Lock()
        # Invariant: each guarded scope has one live timer, at the current deadline.
        self._guards: dict[anyio.CancelScope, TimerHandle] = {}

    def valid(self) -> bool:
        """Whether the lease is held now (by this process's clock: the Clock seam)."""
        return not self.lost and self.timers.clock.now() < self.deadline

    def guard(self, scope: anyio.CancelScope) -> None:
        """Cancel *scope* when the deadline passes (renewals move it) or the lease is fenced."""
        self._guards[scope] = self.timers.call_at(self.deadline, scope.cancel)

    def unguard(self, scope: anyio.CancelScope) -> None:
        """Stop guarding *scope* (its work ended)."""
        timer = self._guards.pop(scope, None)
        if timer is not None:
            timer.cancel()

    async def acquire(self, expect: int) -> bool:
        """Take the lease if its key is at revision *expect* (0: no message); False if not.

        Raises:
            ClusterError: NATS failed (the write may have landed: read again).
        """
        return await self._write(expect)

    async def renew(self) -> bool:
        """Extend the lease; False if it was lost (another revision is there now).

        Raises:
            ClusterError: NATS failed.
        """
        async with self.lock:
            if self.lost:
                return False
            return await self._write(self.revision)

    async def _write(self, expect: int) -> bool:
        sent = self.timers.clock.now()  # before sending: the server's TTL starts later
        try:
            revision = await self.bucket.write(
                self.key, self.holder.encode(), expect=expect, ttl=self.timing.ttl
            )
        except Conflict:
            self.lost = True
            return False
        self.revision = revision
        self.deadline = sent + self.timing.valid_for
        for scope, timer in list(self._guards.items()):
            timer.cancel()
            self._guards[scope] = self.timers.call_at(self.deadline, scope.cancel)
        return True

    def fence(self) -> None:
        """Give the lease up at once (handlers running under it are cancelled)."""
        self.lost = True
        for scope in self._guards:
            scope.cancel()

    async def release(self) -> None:
        """Delete the lease if it is still this revision (a passivated activation)."""
        self.fence()
        # After a renewal in flight: it may still land, at a newer revision, and
        # a delete at the older one would be refused and ignored (a lost race),
        # leaving the key held by this member, with nothing active, for a ttl.
        async with self.lock:
            await self.bucket.delete(self.key, expect=self.revision)


async def renew_forever(
    leases: Mapping[str, Lease],
    timing: LeaseTiming,
    timers: TimerQueue,
    lost: Callable[[str], None],
) -> None:
    """Renew *leases* every ``renew_every`` seconds of the Clock seam, until cancelled.

    A lease that is lost, or whose deadline passed before a renewal landed,
    is fenced (its guarded handlers are cancelled) and ``lost(key)`` is called.
    """
    while True:
        await sleep(timers.clock, timing.renew_every)
        for key, lease in list(leases.items()):
            if lease.lost:
                continue
            renewed = True
            try:
                with move_on_after(timers, timing.renew_every):
                    renewed = await lease.renew()
            except ClusterError as error:  # tried again next round, until the deadline
                logger.info("cluster: renewing the lease of %s failed: %s", key, error)
            if not renewed or not lease.valid():
                lease.fence()
                lost(key)


def lease_key(kind: str, key: str) -> str:
    """The KV key of the lease on *key* of entity *kind*."""
    return f"l.{kind}.{key.encode().hex()}"


def state_key(kind: str, key: str) -> str:
    """The KV key of the persisted state of *key* of entity *kind*."""
    return f"s.{kind}.{key.encode().hex()}"


def region_id(value: Any) -> tuple[str, str | None, str, int]:
    """A ref id as a tuple (JSON gives lists)."""
    node, address, path, uid = value
    return (node, address, path, uid)
