"""Membership: one heartbeat entry per member with a TTL, watched by every member.

Each member writes ``m.<node id>`` (its `Member`, sealed) with a TTL of
``down_after`` seconds, and writes it again every ``down_after / 4``
seconds. A clean leave deletes the entry (a DEL marker: ``left``); a
member that stops writing (killed, frozen, cut off) is expired by the
server, whose marker says so (a PURGE marker: ``lost``). The server's
bucket is the one source of truth, so members never disagree for long.
The heartbeats and the bounds of joining and watching again read the
system's Clock seam (virtual time under simulation).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

import anyio

from actorlib._clock import fail_after, move_on_after, sleep
from actorlib.remote._logsafe import loggable

from ._errors import ClusterError
from ._kv import Bucket
from ._members import MAX_ENTRY, NODE_ID, Member, MemberDown, MemberUp
from ._store import Watcher

if TYPE_CHECKING:
    from actorlib import ActorSystem

logger = logging.getLogger("actorlib.cluster")
PREFIX = "m."


class Membership:
    """This member's heartbeats, and the live members as the bucket says.

    Args:
        bucket: the cluster's bucket.
        system: whose event stream hears `MemberUp` and `MemberDown`.
        me: builds this member's entry afresh (its load changes).
        down_after: the TTL of an entry, in seconds.
    """

    def __init__(
        self,
        bucket: Bucket,
        system: ActorSystem,
        me: Callable[[], Member],
        *,
        down_after: float,
    ) -> None:
        self.bucket = bucket
        self.system = system
        self.me = me
        self.down_after = down_after
        self.members: dict[str, Member] = {}
        # Called with each MemberUp and MemberDown, and with each updated Member.
        self.listeners: list[Callable[[object], None]] = []
        self._scope = anyio.CancelScope()
        self._ready = anyio.Event()
        self._watcher: Watcher | None = None
        self._watching = anyio.CancelScope()
        # While a new watcher delivers the current entries: the members seen.
        self._fresh: set[str] | None = None
        self._refused = 0
        self._quiet_until = 0.0

    @property
    def key(self) -> str:
        """This member's entry."""
        return PREFIX + self.me().node_id

    async def start(self) -> None:
        """Announce this member and wait until the current members are known.

        Raises:
            ClusterError: NATS failed.
        """
        await self.beat()
        self._watcher = await self.bucket.watch(PREFIX)
        self.system._start_runtime_task(self._run)
        with fail_after(self.system.timer_queue, 10):
            await self._ready.wait()

    def _reconnects(self) -> int:
        return self.bucket.store.reconnects()

    async def beat(self) -> None:
        """Write this member's entry with a fresh TTL."""
        await self.bucket.write(self.key, self.me().encode(), ttl=self.down_after)

    async def _run(self) -> None:
        with self._scope:
            async with anyio.create_task_group() as group:
                group.start_soon(self._beats)
                while True:
                    with anyio.CancelScope() as self._watching:
                        await self._watch()
                    await self._rewatch()

    async def _rewatch(self) -> None:
        # After a reconnect an existing watcher stays silent for about 19 s
        # (nats-py rebuilds its consumer on a slow timer): a new one gets the
        # current entries at once, and members missing from them are down.
        old, self._watcher = self._watcher, None
        if old is not None:
            with move_on_after(self.system.timer_queue, 1):
                await old.stop()
        while self._watcher is None:
            try:
                self._watcher = await self.bucket.watch(PREFIX)
            except Exception as error:
                logger.info("cluster: watching members again failed: %r", error)
                await sleep(self.system.clock, self.down_after / 4)
        self._fresh = set()

    async def _beats(self) -> None:
        interval = self.down_after / 4
        reconnects = self._reconnects()
        while True:
            await sleep(self.system.clock, interval)
            try:
                await self.beat()
            except ClusterError as error:
                # The entry expires if this goes on: the others declare us lost.
                logger.warning("cluster heartbeat of %s failed: %s", self.key, error)
            if self._reconnects() != reconnects:
                reconnects = self._reconnects()
                self._watching.cancel()

    async def _watch(self) -> None:
        assert self._watcher is not None  # set by start() and _rewatch()
        async for entry in self._watcher:
            if entry is None:
                self._ready.set()
                fresh, self._fresh = self._fresh, None
                for node_id in set(self.members) - (fresh or set(self.members)):
                    self._down(node_id, "lost")
                continue
            node_id = entry.key[len(PREFIX) :]
            if not NODE_ID.fullmatch(node_id):
                continue
            if entry.op != "put":
                self._down(node_id, "left" if entry.op == "delete" else "lost")
                continue
            plaintext = self.bucket.unseal(entry.key, entry.value, limit=MAX_ENTRY)
            member = None if plaintext is None else Member.decode(node_id, plaintext)
            if member is None:
                self._refuse(entry.key)
                continue
            known = node_id in self.members
            self.members[node_id] = member
            if self._fresh is not None:
                self._fresh.add(node_id)
            if not known:
                self._publish(MemberUp(member))
            else:
                for listener in self.listeners:
                    listener(member)

    def _refuse(self, key: str) -> None:
        # Anyone who may write the bucket can write entries: one line per 5 s at most.
        self._refused += 1
        now = self.system.clock.now()
        if now >= self._quiet_until:
            self._quiet_until = now + 5
            logger.warning(
                "cluster: ignored %d member entries that are not ours (the last: %r); "
                "someone else writes the bucket %s",
                self._refused,
                loggable(key),
                self.bucket.name,
            )
            self._refused = 0

    def _down(self, node_id: str, reason: str) -> None:
        member = self.members.pop(node_id, None)
        if member is not None:
            self._publish(MemberDown(member, "left" if reason == "left" else "lost"))

    def _publish(self, event: MemberUp | MemberDown) -> None:
        for listener in self.listeners:
            listener(event)
        self.system.events.publish(event)

    async def leave(self) -> None:
        """Stop heartbeats and delete this member's entry: the others see it leave at once."""
        self._scope.cancel()
        if self._watcher is not None:
            watcher, self._watcher = self._watcher, None
            try:
                await watcher.stop()
            except Exception:  # the connection may be gone already
                logger.info("stopping the member watcher failed", exc_info=True)
        try:
            await self.bucket.delete(self.key)
        except ClusterError as error:
            logger.warning("cluster: could not delete %s on leave: %s", self.key, error)
