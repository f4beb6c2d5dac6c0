"""The Clock seam and the one timer queue that reads it; knows nothing about actors.

Every delay in the runtime (actor timers, ask timeouts, restart backoff) is a
callback in a `TimerQueue`, which sleeps on a `Clock`. Swapping the clock (for a
virtual one in tests) therefore moves all of time at once. The packages above
the core (remote, cluster) time out, sleep and detect silence with the helpers
at the end of this module, on the same queue.
"""

from __future__ import annotations

import heapq
import logging
import math
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol, runtime_checkable

import anyio

logger = logging.getLogger("actorlib")


@runtime_checkable
class Clock(Protocol):
    """Where the runtime reads the time and waits for deadlines."""

    def now(self) -> float:
        """Return the current time in seconds (monotonic, arbitrary origin)."""
        ...

    async def sleep_until(self, deadline: float) -> None:
        """Return once `now()` has reached *deadline* (``math.inf``: never)."""
        ...


class MonotonicClock:
    """The production clock: the event loop's monotonic time."""

    def __init__(self) -> None:
        # A running system binds the backend's own clock function (see _lowlevel).
        self.read: Callable[[], float] = anyio.current_time

    def now(self) -> float:
        """Return the event loop's current time."""
        return self.read()

    async def sleep_until(self, deadline: float) -> None:
        """Sleep until *deadline* on the event loop clock."""
        if math.isinf(deadline):
            await anyio.sleep_forever()
        else:
            await anyio.sleep_until(deadline)


class TimerHandle:
    """One scheduled callback; `cancel()` makes sure it never runs."""

    __slots__ = ("_queue", "callback", "cancelled", "deadline", "seq")

    def __init__(
        self, queue: TimerQueue, deadline: float, seq: int, callback: Callable[[], None]
    ) -> None:
        self._queue = queue
        self.deadline = deadline
        self.seq = seq
        self.callback: Callable[[], None] | None = callback
        self.cancelled = False

    def cancel(self) -> None:
        """Prevent the callback from running (no effect once it ran)."""
        if not self.cancelled:
            self.cancelled = True
            self.callback = None
            self._queue._note_cancelled(self)


class TimerQueue:
    """A heap of callbacks run by one task in deadline order.

    One task for all timers keeps an idle actor free of tasks; cancelled
    entries are dropped lazily and the heap is compacted when they dominate.
    """

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        # (deadline, seq, handle): tuples compare in C, and seq makes equal
        # deadlines fire in the order they were scheduled.
        self._heap: list[tuple[float, int, TimerHandle]] = []
        self._seq = 0
        self._cancelled = 0
        self._sleep_scope: anyio.CancelScope | None = None
        self._sleeping_until = math.inf
        self._exact = not isinstance(clock, MonotonicClock)

    def __len__(self) -> int:
        return len(self._heap) - self._cancelled

    def next_deadline(self) -> float:
        """The earliest pending deadline, ``math.inf`` when there is none."""
        heap = self._heap
        while heap and heap[0][2].cancelled:
            heapq.heappop(heap)
            self._cancelled -= 1
        return heap[0][0] if heap else math.inf

    def peek(self) -> TimerHandle | None:
        """The live entry that fires next, None when there is none."""
        return self._heap[0][2] if self.next_deadline() < math.inf else None

    def call_at(self, deadline: float, callback: Callable[[], None]) -> TimerHandle:
        """Run *callback* (synchronously, in the timer task) at *deadline*."""
        self._seq += 1
        handle = TimerHandle(self, deadline, self._seq, callback)
        heapq.heappush(self._heap, (deadline, self._seq, handle))
        if deadline < self._sleeping_until and self._sleep_scope is not None:
            # The sleeper waits for a later deadline: wake it to re-plan.
            self._sleep_scope.cancel()
        return handle

    def call_later(self, delay: float, callback: Callable[[], None]) -> TimerHandle:
        """Run *callback* after *delay* seconds of this queue's clock."""
        return self.call_at(self.clock.now() + delay, callback)

    def _note_cancelled(self, handle: TimerHandle) -> None:
        self._cancelled += 1
        if (
            self._exact
            and handle.deadline <= self._sleeping_until
            and self._sleep_scope is not None
        ):
            # A virtual clock jumps to what we sleep until: re-plan now, so
            # it never sees the deadline of a cancelled timer.
            self._sleep_scope.cancel()
        if self._cancelled > 256 and self._cancelled * 2 > len(self._heap):
            self._heap = [entry for entry in self._heap if not entry[2].cancelled]
            heapq.heapify(self._heap)
            self._cancelled = 0

    def fire_due(self) -> int:
        """Run every callback whose deadline has passed; return how many ran."""
        now = self.clock.now()
        fired = 0
        # Re-read self._heap each turn: a callback may cancel timers and compact it.
        while self._heap and self._heap[0][0] <= now:
            handle = heapq.heappop(self._heap)[2]
            callback = handle.callback
            if handle.cancelled or callback is None:
                self._cancelled -= 1
                continue
            handle.callback = None
            handle.cancelled = True  # a late cancel() must not count it twice
            fired += 1
            try:
                callback()
            except Exception:
                # A timer callback must never take the timer task down with it.
                logger.exception("timer callback %r failed", callback)
        return fired

    async def run(self) -> None:
        """The timer task: fire due callbacks, sleep until the next deadline."""
        while True:
            self.fire_due()
            # With the real clock, plan on the head of the heap even if it was
            # cancelled: waking early costs one spurious turn, while
            # re-planning on every cancel would cancel this sleep for every
            # new timer. A virtual clock jumps to what we sleep until, so it
            # must only ever see live deadlines.
            if self._exact:
                deadline = self.next_deadline()
            else:
                deadline = self._heap[0][0] if self._heap else math.inf
            with anyio.CancelScope() as scope:
                self._sleep_scope = scope
                self._sleeping_until = deadline
                await self.clock.sleep_until(deadline)
            self._sleep_scope = None
            self._sleeping_until = math.inf


class ExpiryQueue:
    """Items that expire a fixed delay after they were added; one timer for all.

    With a single delay, deadlines only grow, so a FIFO replaces the heap:
    adding is an append, and items that finished early (``item.done``) are
    dropped from the head as new ones arrive, so the queue stays short when
    they finish in order (as asks of one caller do). Used for asks with the
    system's default timeout.
    """

    def __init__(self, queue: TimerQueue, delay: float, expire: Callable[[Any], None]) -> None:
        self._queue = queue
        self.delay = delay
        self._expire = expire
        self._items: deque[tuple[float, Any]] = deque()
        self._timer: TimerHandle | None = None

    def __len__(self) -> int:
        return len(self._items)

    def add(self, item: Any) -> None:
        """Expire *item* after the delay unless ``item.done`` is true by then."""
        items = self._items
        while items and items[0][1].done:
            items.popleft()
        deadline = self._queue.clock.now() + self.delay
        items.append((deadline, item))
        if self._timer is None:
            self._timer = self._queue.call_at(deadline, self._fire)

    def _fire(self) -> None:
        self._timer = None
        now = self._queue.clock.now()
        items = self._items
        while items and (items[0][0] <= now or items[0][1].done):
            _, item = items.popleft()
            if not item.done:
                self._expire(item)
        if items:
            self._timer = self._queue.call_at(items[0][0], self._fire)


# ---------------------------------------------------------------- on the seam
#
# Sleeps and timeouts on a system's clock, for the layers above the core
# (actorlib.remote, actorlib.cluster): under a virtual clock they happen when
# virtual time reaches them. A timeout is a cancel scope that a timer of the
# system's `TimerQueue` cancels, as the core's ask timeouts are: the queue's
# task must run, so only a running system's queue will do. Where there is no
# system (a bare handshake or NATS client in a test), *timers* is None and
# anyio's own, on the event loop's clock, stands in.


async def sleep(clock: Clock, seconds: float) -> None:
    """Sleep *seconds* on *clock*."""
    await clock.sleep_until(clock.now() + seconds)


@contextmanager
def move_on_after(timers: TimerQueue | None, seconds: float | None) -> Iterator[anyio.CancelScope]:
    """``anyio.move_on_after`` on the clock of *timers* (*seconds* None: no timeout).

    *timers* None: anyio's own, on the event loop's clock.
    """
    if timers is None:
        with anyio.move_on_after(math.inf if seconds is None else seconds) as scope:
            yield scope
        return
    with anyio.CancelScope() as scope:
        timer = None if seconds is None else timers.call_later(seconds, scope.cancel)
        try:
            yield scope
        finally:
            if timer is not None:
                timer.cancel()


@contextmanager
def fail_after(timers: TimerQueue | None, seconds: float) -> Iterator[anyio.CancelScope]:
    """``anyio.fail_after`` on the clock of *timers*: TimeoutError once *seconds* pass.

    *timers* None: anyio's own, on the event loop's clock.

    Raises:
        TimeoutError: the block ran out of time (and was cancelled).
    """
    if timers is None:
        with anyio.fail_after(seconds) as scope:
            yield scope
        return
    expired = False

    def expire() -> None:
        nonlocal expired
        expired = True
        scope.cancel()

    with anyio.CancelScope() as scope:
        timer = timers.call_later(seconds, expire)
        try:
            yield scope
        finally:
            timer.cancel()
    if expired and scope.cancelled_caught:
        raise TimeoutError


class IdleTimer:
    """Calls *on_idle* whenever *seconds* of the clock pass without `last` moving.

    The owner writes the time of each activity to `last` (a frame heard, a
    frame sent): one attribute store on the hot path, where a timeout per
    activity would schedule and cancel a timer each time. One timer of
    *timers* checks at ``last + seconds`` and re-arms itself there; when it
    finds `last` unmoved it calls *on_idle* and re-arms *seconds* later.
    `cancel` stops it.

    With *stall_grace*, a check that runs more than *stall_grace* late (this
    process was stalled: a long GC, a handler that blocked the loop) does not
    count the stall as the other side's silence: activity that arrived
    meanwhile may still be unread, so it looks again *stall_grace* later.
    """

    __slots__ = ("_armed", "_handle", "_on_idle", "_timers", "last", "seconds", "stall_grace")

    def __init__(
        self,
        timers: TimerQueue,
        seconds: float,
        on_idle: Callable[[], None],
        *,
        stall_grace: float = 0.0,
    ) -> None:
        self._timers = timers
        self.seconds = seconds
        self.stall_grace = stall_grace
        self._on_idle = on_idle
        self.last = timers.clock.now()
        self._armed = self.last + seconds
        self._handle: TimerHandle | None = timers.call_at(self._armed, self._check)

    def _check(self) -> None:
        due = self.last + self.seconds
        now = self._timers.clock.now()
        if now >= due:
            grace = self.stall_grace
            if grace and now - self._armed > grace:
                due = now + grace  # the stall was ours: read what came first
            else:
                due = now + self.seconds
                self._on_idle()
        if self._handle is not None:  # on_idle may have cancelled it
            self._armed = due
            self._handle = self._timers.call_at(due, self._check)

    def cancel(self) -> None:
        """Never call *on_idle* again."""
        handle, self._handle = self._handle, None
        if handle is not None:
            handle.cancel()
