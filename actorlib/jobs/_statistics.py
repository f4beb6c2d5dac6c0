"""Snapshots of a queue: `JobQueueStatistics` (in memory, sync) and `JobCounts` (the store's)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator
from typing import Any

import attrs

from ._errors import JobQueueClosedError


@attrs.frozen
class JobCounts:
    """How many jobs of the store are in each status: what `JobQueue.counts` returns.

    With a durable store these are the store's: other processes' jobs included.

    Attributes:
        queued, running, retrying, succeeded, failed, cancelled: jobs per status.
    """

    queued: int
    running: int
    retrying: int
    succeeded: int
    failed: int
    cancelled: int

    @property
    def waiting(self) -> int:
        """Jobs that will run: queued and retrying."""
        return self.queued + self.retrying

    @property
    def finished(self) -> int:
        """Jobs in a final state: succeeded, failed and cancelled."""
        return self.succeeded + self.failed + self.cancelled


@attrs.frozen
class _CountsAndStatistics(JobCounts):
    """What ``await queue.statistics()`` returned before it was sync (kept for old callers)."""

    workers: int = 0
    running_here: int = 0


@attrs.frozen
class JobQueueStatistics:
    """A snapshot of what a queue knows in this process, without asking its store.

    `JobQueue.statistics` returns it (sync, like `ActorSystem.statistics`);
    the store's counts per status come from ``await queue.counts()``.

    Attributes:
        name: the queue's name.
        state: ``"new"``, ``"open"``, ``"closing"`` or ``"closed"``.
        workers: this queue's workers (how many jobs run at once here).
        running_here: attempts running in this process now.
        followed: unfinished jobs that a handle or callback follows here.
        idle: True when no job of this queue waits or runs (as `JobQueue.join` sees it).
        submitted: jobs this process queued (submitted, or due from a periodic
            schedule) since the queue opened; like the other counters below,
            they count what happened here, never other processes' work.
        attempts: attempts started here.
        succeeded: jobs that succeeded here.
        failed: jobs that failed for good here (dependents of a failed job too).
        retried: attempts that failed here and will run again.
        cancelled: jobs cancelled here (waiting or running).
        wait_seconds: the total time the attempts started here waited from
            when they were due (their delay or backoff over) to their start.
        run_seconds: the total time the attempts that ended here ran.
        uncommitted: attempts that ended here whose outcomes wait to be
            committed to the store (while it cannot be reached, they are kept
            and committed once it answers again).
        store_unreachable_for: seconds since the store stopped answering this
            queue's calls (a database restarting, cut off), or None while it
            answers. The queue rides the outage out: see "When the database
            restarts" in docs/jobs.md.
    """

    name: str
    state: str
    workers: int
    running_here: int
    followed: int
    idle: bool
    submitted: int = 0
    attempts: int = 0
    succeeded: int = 0
    failed: int = 0
    retried: int = 0
    cancelled: int = 0
    wait_seconds: float = 0.0
    run_seconds: float = 0.0
    uncommitted: int = 0
    store_unreachable_for: float | None = None


@attrs.define
class Tally:
    """The counters of `JobQueueStatistics` as the queue keeps them (in `QueueCore`)."""

    submitted: int = 0
    attempts: int = 0
    succeeded: int = 0
    failed: int = 0
    retried: int = 0
    cancelled: int = 0
    wait_seconds: float = 0.0
    run_seconds: float = 0.0


@attrs.frozen(eq=False, repr=False)
class AwaitableStatistics(JobQueueStatistics):
    """What `JobQueue.statistics` returns: the snapshot, also awaitable for old callers.

    ``await queue.statistics()`` was the API before `statistics` became sync;
    it still returns the store's counts with ``workers`` and ``running_here``.
    Deprecated: use ``await queue.counts()``.
    """

    counts: Callable[[], Awaitable[JobCounts]] | None = attrs.field(
        default=None, repr=False, eq=False
    )

    def __await__(self) -> Generator[Any, None, _CountsAndStatistics]:
        return self._legacy().__await__()

    async def _legacy(self) -> _CountsAndStatistics:
        if self.counts is None:
            raise JobQueueClosedError(operation="count jobs")
        counts = await self.counts()
        return _CountsAndStatistics(
            **attrs.asdict(counts), workers=self.workers, running_here=self.running_here
        )

    # Everywhere but `await`, it is the plain snapshot: equal, shown and pickled as one.
    def plain(self) -> JobQueueStatistics:
        """The snapshot as a plain `JobQueueStatistics`."""
        fields = attrs.fields(JobQueueStatistics)
        return JobQueueStatistics(**{f.name: getattr(self, f.name) for f in fields})

    def __eq__(self, other: object) -> bool:
        if isinstance(other, AwaitableStatistics):
            other = other.plain()
        return self.plain() == other

    def __hash__(self) -> int:
        return hash(self.plain())

    def __repr__(self) -> str:
        return repr(self.plain())

    def __reduce__(self) -> str | tuple[Any, ...]:
        return self.plain().__reduce__()
