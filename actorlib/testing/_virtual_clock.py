"""VirtualClock: the Clock seam with time that moves only when a test moves it."""

from __future__ import annotations

import heapq
import math
from collections.abc import Awaitable, Callable

import anyio
import anyio.lowlevel

from .._ref import check_timeout
from ._quiescence import wait_all_tasks_blocked


class VirtualClock:
    """A Clock whose time stands still until `advance` (or a SimulatedSystem) moves it.

    Plug it into a system with ``ActorSystem(clock=VirtualClock())``: actor
    timers, ask timeouts and restart backoff then fire in deadline order, at
    once, when the test advances time; nothing really sleeps.

    Args:
        start: the initial reading of `now`.
    """

    def __init__(self, start: float = 0.0) -> None:
        self._now = float(start)
        self._seq = 0
        # (deadline, seq, event): seq keeps equal deadlines in arrival order.
        self._sleepers: list[tuple[float, int, anyio.Event]] = []
        # How `advance` waits for the effects of each deadline; a
        # SimulatedSystem installs its controller's settle here.
        self.quiesce: Callable[[], Awaitable[None]] = wait_all_tasks_blocked
        # The latest time a simulated run may move to by firing an actor
        # timer ahead of the messages in flight: `advance` never overshoots.
        self.horizon = math.inf

    def __repr__(self) -> str:
        return f"VirtualClock(now={self._now:g})"

    def now(self) -> float:
        """The current virtual time."""
        return self._now

    async def sleep_until(self, deadline: float) -> None:
        """Return once virtual time has reached *deadline*."""
        if deadline <= self._now:
            await anyio.lowlevel.checkpoint()
            return
        event = anyio.Event()
        entry = self._add(deadline, event)
        try:
            await event.wait()
        finally:
            if not event.is_set():
                # Cancelled (e.g. the timer queue re-planning): forget it.
                self._discard(entry)

    def _add(self, deadline: float, event: anyio.Event) -> tuple[float, int, anyio.Event]:
        """Set *event* once time reaches *deadline*; the entry, for `_discard`."""
        self._seq += 1
        entry = (deadline, self._seq, event)
        heapq.heappush(self._sleepers, entry)
        return entry

    def _discard(self, entry: tuple[float, int, anyio.Event]) -> None:
        self._sleepers.remove(entry)
        heapq.heapify(self._sleepers)

    def next_deadline(self) -> float:
        """The earliest deadline anything sleeps until (``math.inf``: nothing)."""
        return self._sleepers[0][0] if self._sleepers else math.inf

    def wake_due(self) -> int:
        """Wake every sleeper whose deadline is now or past; return how many."""
        woken = 0
        while self._sleepers and self._sleepers[0][0] <= self._now:
            heapq.heappop(self._sleepers)[2].set()
            woken += 1
        return woken

    def jump_to(self, when: float) -> None:
        """Set the time to *when* (never backwards) and wake what is due."""
        if when > self._now:
            self._now = when
        self.wake_due()

    async def advance(self, seconds: float) -> None:
        """Move time forward by *seconds*, firing every deadline on the way in order.

        Each deadline is reached in turn, and every task is given the chance
        to react to it (a timer firing, an actor handling the message, a new
        timer being started) before the next one.

        Raises:
            ValueError: *seconds* is negative or NaN.
        """
        limit = check_timeout(seconds, "seconds")
        assert limit is not None
        target = self._now + limit
        self.horizon = target
        try:
            await self.quiesce()
            while self._sleepers and self._sleepers[0][0] <= target:
                self.jump_to(self._sleepers[0][0])
                await self.quiesce()
            self._now = max(self._now, target)
            await self.quiesce()
        finally:
            self.horizon = math.inf


class NodeClock(VirtualClock):
    """One node's reading of a shared `VirtualClock`: the same timeline, *offset* seconds off.

    A simulated cluster gives each node one. Every deadline a node sleeps
    until is a deadline of the shared clock (its own reading less the
    offset), so moving the shared clock moves every node at once, in
    deadline order across nodes. `set_offset` skews the node's clock
    while it runs: what it sleeps until is re-planned on the new reading.

    Args:
        base: the shared clock.
        offset: how far this node's reading is ahead of it, in seconds.
    """

    def __init__(self, base: VirtualClock, offset: float = 0.0) -> None:
        # Not VirtualClock.__init__: every reading and sleeper lives in *base*.
        self._base = base
        self.offset = float(offset)
        self.quiesce = base.quiesce
        # What this node sleeps on (insertion-ordered): its event -> (own deadline, base entry).
        self._mine: dict[anyio.Event, tuple[float, tuple[float, int, anyio.Event]]] = {}

    def __repr__(self) -> str:
        return f"NodeClock(now={self.now():g}, offset={self.offset:g})"

    @property
    def horizon(self) -> float:
        """The shared clock's horizon, in this node's reading."""
        return self._base.horizon + self.offset

    @horizon.setter
    def horizon(self, value: float) -> None:
        self._base.horizon = value - self.offset

    def now(self) -> float:
        """The shared time plus this node's offset."""
        return self._base.now() + self.offset

    async def sleep_until(self, deadline: float) -> None:
        """Return once this node's reading has reached *deadline*."""
        if deadline <= self.now():
            await anyio.lowlevel.checkpoint()
            return
        event = anyio.Event()
        self._mine[event] = (deadline, self._base._add(deadline - self.offset, event))
        try:
            await event.wait()
        finally:
            _, entry = self._mine.pop(event)
            if not event.is_set():
                self._base._discard(entry)

    def set_offset(self, offset: float) -> None:
        """Read *offset* seconds off the shared clock from now on; re-plan every sleeper."""
        self.offset = float(offset)
        for event, (deadline, entry) in list(self._mine.items()):
            self._base._discard(entry)
            self._mine[event] = (deadline, self._base._add(deadline - self.offset, event))
        self._base.wake_due()

    def next_deadline(self) -> float:
        """The earliest deadline on the shared clock, in this node's reading."""
        return self._base.next_deadline() + self.offset

    def wake_due(self) -> int:
        """Wake every sleeper of the shared clock that is due."""
        return self._base.wake_due()

    def jump_to(self, when: float) -> None:
        """Move the shared clock to this node's reading *when*."""
        self._base.jump_to(when - self.offset)

    async def advance(self, seconds: float) -> None:
        """Advance the shared clock (every node moves with it)."""
        await self._base.advance(seconds)
