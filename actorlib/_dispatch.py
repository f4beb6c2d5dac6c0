"""An elastic pool of tasks that run ready mailboxes in batches; knows nothing about actors.

Measured (DESIGN.md 1): a task per actor costs ~9 KiB and yields to the loop on
every message. Instead an idle actor holds no task: when its mailbox gets work
it is appended once to a ready queue, and a few worker tasks run ready
runnables, each for up to a `throughput` batch. A worker whose handler awaits
keeps the runnable it is running; since the pool cannot know whether that
await will be long, a spare worker is woken (or started) when work is queued,
unless one is already on its way or paused at its fairness checkpoint (it
will look at the ready queue when it resumes). So an actor blocked on an
`ask` never starves the actor it asked, and a busy pool does not grow.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Protocol

import anyio
import anyio.lowlevel
import attrs

from ._lowlevel import Waiter


class Runnable(Protocol):
    """Something with queued work that a worker can run for a bounded batch."""

    async def run(self, budget: int) -> int:
        """Process up to *budget* units of work; return how many were done.

        On return the runnable has either re-queued itself with
        `Dispatcher.requeue` or recorded that it is idle.
        """
        ...


@attrs.frozen
class DispatcherStatistics:
    """A snapshot of the worker pool.

    Attributes:
        workers: worker tasks alive.
        idle_workers: workers waiting for work.
        ready: runnables waiting for a worker.
        peak_workers: the most workers alive at once so far.
    """

    workers: int
    idle_workers: int
    ready: int
    peak_workers: int


class Dispatcher:
    """Runs ready runnables on an elastic pool of worker tasks.

    Args:
        start_task: starts a task in the owner's task group (``tg.start_soon``);
            may be given later with `bind`, before the first `schedule`.
        throughput: the most messages one runnable handles before the worker
            moves on to the next ready one (fairness between actors).
        time_slice: seconds of work after which a worker yields to the event
            loop (fairness with tasks outside the pool); checked every
            `throughput` messages, so it bounds latency, not CPU use.
        max_idle: idle workers kept alive for the next burst; others exit.
    """

    def __init__(
        self,
        start_task: Callable[[Callable[[], Coroutine[Any, Any, None]]], object] | None = None,
        *,
        throughput: int = 64,
        time_slice: float = 0.002,
        max_idle: int = 8,
    ) -> None:
        self._start_task = start_task
        self.throughput = throughput
        self.time_slice = time_slice
        self.max_idle = max_idle
        self.ready: deque[Runnable] = deque()
        """The runnables waiting for a worker (read it, never change it from outside)."""
        self._idle: list[Waiter] = []
        # True while a woken (or new) worker has not yet started looking at
        # the ready queue: it will see whatever is queued meanwhile.
        self._waking = False
        # Workers paused at their fairness checkpoint: each will look at the
        # ready queue when it resumes, so none needs waking for it.
        self._yielding = 0
        self._workers = 0
        self._peak = 0
        self._closed = False
        self.new_event: Callable[[], Waiter] = anyio.Event
        self.checkpoint: Callable[[], Awaitable[None]] = anyio.lowlevel.checkpoint
        self.crashed: BaseException | None = None
        """A BaseException (not a cancellation) that killed a worker, if any."""

    def bind(self, start_task: Callable[[Callable[[], Coroutine[Any, Any, None]]], object]) -> None:
        """Set where worker tasks are started (the owner's task group)."""
        self._start_task = start_task

    @property
    def closed(self) -> bool:
        """True once `close` was called."""
        return self._closed

    def schedule(self, runnable: Runnable) -> None:
        """Queue *runnable* (the caller guarantees it is not queued already)."""
        self.ready.append(runnable)
        if not self._waking and not self._yielding:
            self._wake_one()

    # A runnable that still has work after its batch goes to the back: fairness.
    requeue = schedule

    def _wake_one(self) -> None:
        if self._closed or self._start_task is None:
            return
        self._waking = True
        if self._idle:
            self._idle.pop().set()
        else:
            self._workers += 1
            self._peak = max(self._peak, self._workers)
            self._start_task(self._work)

    def close(self) -> None:
        """Stop waking workers; idle ones exit (used at shutdown)."""
        self._closed = True
        while self._idle:
            self._idle.pop().set()

    def statistics(self) -> DispatcherStatistics:
        """Return a snapshot of the pool."""
        return DispatcherStatistics(
            workers=self._workers,
            idle_workers=len(self._idle),
            ready=len(self.ready),
            peak_workers=self._peak,
        )

    async def _work(self) -> None:
        try:
            self._waking = False  # this new worker is looking at the queue now
            while True:
                await self._drain()
                if self._closed:
                    return
                if await self._linger():
                    continue
                if len(self._idle) >= self.max_idle:
                    return
                await self._park()
                if self.closed and not self.ready:
                    return
        finally:
            self._workers -= 1

    async def _drain(self) -> None:
        """Run ready runnables until none is left, yielding every time slice."""
        ready = self.ready
        throughput = self.throughput
        done = 0
        slice_started = time.perf_counter()
        while ready:
            runnable = ready.popleft()
            if ready and not self._waking and not self._yielding:
                # More work than this worker: make sure someone else looks.
                self._wake_one()
            try:
                # A run that handled no user message (a start, a stop) still
                # counts, so a spawn storm cannot hold the loop for ever.
                done += await runnable.run(throughput) or 1
            except BaseException as error:
                # KeyboardInterrupt, SystemExit...: the runtime cannot carry
                # on; remember it so that shutdown does not wait for actors.
                if not isinstance(error, anyio.get_cancelled_exc_class()):
                    self.crashed = error
                raise
            if done < throughput:
                continue
            done = 0
            # CPU time, not actor time: perf_counter, never the Clock seam.
            if time.perf_counter() - slice_started >= self.time_slice:
                await self._pause()
                slice_started = time.perf_counter()

    async def _pause(self) -> None:
        """One loop turn during which this worker counts as about to look again."""
        self._yielding += 1
        try:
            await self.checkpoint()
        finally:
            self._yielding -= 1

    async def _linger(self) -> bool:
        """Look once more after one loop turn; True if work arrived meanwhile.

        A task that asks in a loop posts its next request in that turn:
        finding it here saves waking this worker through the event loop (one
        loop turn per ask instead of two).
        """
        await self._pause()
        return bool(self.ready)

    async def _park(self) -> None:
        event = self.new_event()
        self._idle.append(event)
        await event.wait()
        self._waking = False  # the waker set it; this worker is now looking


class Deliverable(Protocol):
    """A recipient whose mailbox an envelope can be put into."""

    def enqueue(self, envelope: Any) -> object:
        """Make *envelope* visible in the mailbox (overflow policy applies).

        Returns what the policy dropped, if anything.
        """
        ...

    def enqueue_system(self, message: object) -> None:
        """Make system *message* visible (a stopped recipient answers it at once)."""
        ...


class Delivery(Protocol):
    """The Delivery seam: how envelopes and replies become visible.

    Production delivers at once; the deterministic scheduler of
    ``actorlib.testing`` holds them in flight and picks the next one.
    """

    def deliver(self, recipient: Deliverable, envelope: Any) -> None:
        """Put *envelope* into *recipient*'s mailbox (now or later)."""
        ...

    def deliver_system(self, recipient: Deliverable, message: object) -> None:
        """Put system *message* into *recipient*'s system lane (now or later).

        Only called when the system's delivery is not `DirectDelivery`: the
        cell inlines the direct case.
        """
        ...

    def reply(self, slot: Any, value: object, error: BaseException | None) -> bool:
        """Complete an ask's reply slot; False if nobody waits for it any more."""
        ...


class DirectDelivery:
    """Production delivery: append and wake, complete replies at once."""

    def deliver(self, recipient: Deliverable, envelope: Any) -> None:
        """Enqueue now."""
        recipient.enqueue(envelope)

    def deliver_system(self, recipient: Deliverable, message: object) -> None:
        """Enqueue now."""
        recipient.enqueue_system(message)

    def reply(self, slot: Any, value: object, error: BaseException | None) -> bool:
        """Complete the slot now."""
        return bool(slot.set_result(value) if error is None else slot.set_error(error))
