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
        self._seq += 1
        entry = (deadline, self._seq, event)
        heapq.heappush(self._sleepers, entry)
        try:
            await event.wait()
        finally:
            if not event.is_set():
                # Cancelled (e.g. the timer queue re-planning): forget it.
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
        await self.quiesce()
        while self._sleepers and self._sleepers[0][0] <= target:
            self.jump_to(self._sleepers[0][0])
            await self.quiesce()
        self._now = max(self._now, target)
        await self.quiesce()
