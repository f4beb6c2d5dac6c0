"""JobQueue, the facade users hold: submit, follow, cancel and close; owns the scheduler actor."""

from __future__ import annotations

import datetime
import math
import uuid
from collections.abc import Awaitable, Callable, Iterable
from types import TracebackType
from typing import Any, TypeVar, overload

import anyio
import attrs

from .._system import ActorSystem
from . import _control, _open
from ._closing import check_grace, close_open
from ._core import QueueCore
from ._errors import JobQueueClosedError
from ._events import JobQueued
from ._handle import JobHandle, JobState
from ._mainguard import check_main_guard
from ._model import NO_RETRY, JobInfo, JobRecord, Retry
from ._options import check_queue_options
from ._periodic import PeriodicHandle, check_schedule
from ._periodic_start import start_periodic
from ._records import batch_records, record_maker
from ._scheduler import Scheduler
from ._scheduling import Started
from ._statistics import AwaitableStatistics, JobCounts, JobQueueStatistics
from ._store import JobStore, queue_store
from ._tracing import add_traced

T = TypeVar("T")


class JobQueue:
    """Jobs submitted now, run later by a supervised pool of worker actors.

    Use ``async with JobQueue(system, ...) as queue`` or
    ``queue = await JobQueue.start(system, ...)`` and ``await queue.close()``.

    Args:
        system: the running actor system that hosts the queue's actors.
        store: ``"memory"`` (default), ``"sqlite:///path.db"`` (durable, one
            host), ``"postgresql://user@host:5432/db"`` (durable, many hosts;
            needs ``actorlib[postgres]``), or a `JobStore` object.
        workers: how many jobs run at once in this process (the pool size).
            0 makes a producer: it submits and follows jobs (results,
            progress, callbacks, events) that worker processes run; it needs
            a durable store.
        name: the queue's name: its actor's name, and in its events.
        rate_limit: at most this many job starts per second (None: no limit).
        keep_results: seconds a finished job (and its result) is kept, so
            that a submit with its key finds it.
        lease: seconds a durable store lets a running job belong to this
            process without news from it (renewed while it runs).
        poll_interval: seconds between looks at a durable store for jobs
            other processes submitted (a PostgreSQL store is woken at once
            by NOTIFY instead), and for expired leases.
        default_retry: the `Retry` of jobs submitted without one.
        default_timeout: the timeout of jobs submitted without one.

    Raises:
        TypeError, ValueError: an invalid option (the message names it);
            ``workers=0`` with the memory store.
        JobMainGuardError: made by the top-level code of a main script that a
            process job's worker process runs again (the script lacks
            ``if __name__ == "__main__":``).
    """

    def __init__(
        self,
        system: ActorSystem,
        *,
        store: str | JobStore = "memory",
        workers: int = 4,
        name: str = "jobs",
        rate_limit: float | None = None,
        keep_results: float = 24 * 3600.0,
        lease: float = 30.0,
        poll_interval: float = 1.0,
        default_retry: Retry | None = None,
        default_timeout: float | None = None,
    ) -> None:
        if not isinstance(system, ActorSystem):
            raise TypeError(f"JobQueue() expects an ActorSystem, got {system!r}")
        check_main_guard()
        self._options: dict[str, Any] = {
            "workers": workers,
            "name": name,
            "rate_limit": rate_limit,
            "keep_results": keep_results,
            "lease": lease,
            "poll_interval": poll_interval,
        }
        check_queue_options(
            **self._options, default_retry=default_retry, default_timeout=default_timeout
        )
        self._system = system
        self._store = queue_store(store, system.clock.now, workers)
        self._defaults = (default_retry or NO_RETRY, default_timeout)
        self._core: QueueCore | None = None
        self._phase = "new"  # new -> open -> closing -> closed

    def __repr__(self) -> str:
        return f"<JobQueue {self._options['name']!r} {self._phase}>"

    @property
    def name(self) -> str:
        """The queue's name."""
        return str(self._options["name"])

    @property
    def store(self) -> JobStore:
        """The queue's `JobStore` (what a dashboard reads; the queue writes it)."""
        return self._store

    # ------------------------------------------------------------ lifecycle

    @classmethod
    async def start(cls, system: ActorSystem, **options: Any) -> JobQueue:
        """Make a queue, open its store and start its workers.

        Takes the same options as `JobQueue`.

        Raises:
            JobStoreUnavailableError: the store's server cannot be reached, or
                refused the connection.
        """
        queue = cls(system, **options)
        await queue._open()
        return queue

    async def __aenter__(self) -> JobQueue:
        await self._open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def _open(self) -> None:
        if self._phase != "new":
            raise RuntimeError(f"{self!r} was already started; a queue starts once")
        store = self._store
        owner = f"{self.name}-{uuid.uuid4().hex[:12]}"
        await store.open(owner)
        self._core = core = QueueCore(
            system=self._system,
            store=store,
            owner=owner,
            **self._options,
        )
        try:
            core.scheduler = await self._system.spawn(Scheduler, core, name=self.name)
            await core.scheduler.ask(Started(), timeout=None)
        except BaseException:
            await store.close()
            raise
        self._phase = "open"
        _open.opened(self._system, self)
        core.kick()

    async def close(self, *, cancel_pending: bool = False, grace: float | None = None) -> None:
        """Stop the queue: let running jobs end, stop the workers, close the store.

        With the memory store, ``close`` first waits for every accepted job
        to end (`join`), since nothing else would keep them. A durable store
        keeps waiting jobs for the next queue that opens it.

        Args:
            cancel_pending: cancel the jobs still waiting instead (they end
                `cancelled`); running jobs still finish.
            grace: with a durable store, seconds the running jobs get to
                finish; those still running then are interrupted and put back
                in the queue (not failed: another worker runs them again, so
                they must tolerate running twice). None: wait for them.

        Raises:
            ValueError: *grace* is negative, or given with the memory store.
        """
        if grace is not None:
            check_grace(grace, self._store)
        _open.closing(self._system, self)
        if self._phase in ("new", "closed"):
            self._phase = "closed"
            return
        core = self._core
        assert core is not None
        if core.stopped:  # the system stopped the queue's actors: only the store is left
            self._phase = "closed"
            with anyio.CancelScope(shield=True):
                await core.store.close()
            return
        if self._phase == "open":
            self._phase = "closing"
            await close_open(core, cancel_pending=cancel_pending, grace=grace)
            self._phase = "closed"

    @property
    def interrupted_at_close(self) -> bool:
        """True if ``close(grace=...)`` interrupted running jobs (and re-queued them)."""
        return self._core is not None and self._core.abandoning

    def _running_core(self, operation: str, *, closing_ok: bool = False) -> QueueCore:
        core = self._core
        usable = ("open", "closing") if closing_ok else ("open",)
        if self._phase not in usable or core is None:
            raise JobQueueClosedError(operation=operation)
        return core

    # ------------------------------------------------------------ jobs

    # The function's return type (awaited, if it is a coroutine) is the
    # handle's: an async function matches the first overload.
    @overload
    async def submit(
        self,
        function: Callable[..., Awaitable[T]],
        /,
        *args: Any,
        retry: Retry | None = ...,
        timeout: float | None = ...,
        priority: int = ...,
        delay: float | datetime.timedelta | None = ...,
        at: datetime.datetime | None = ...,
        key: str | None = ...,
        executor: str | None = ...,
        after: Iterable[JobHandle[Any] | str] | None = ...,
        **kwargs: Any,
    ) -> JobHandle[T]: ...

    @overload
    async def submit(
        self,
        function: Callable[..., T],
        /,
        *args: Any,
        retry: Retry | None = ...,
        timeout: float | None = ...,
        priority: int = ...,
        delay: float | datetime.timedelta | None = ...,
        at: datetime.datetime | None = ...,
        key: str | None = ...,
        executor: str | None = ...,
        after: Iterable[JobHandle[Any] | str] | None = ...,
        **kwargs: Any,
    ) -> JobHandle[T]: ...

    async def submit(
        self,
        function: Callable[..., Any],
        /,
        *args: Any,
        retry: Retry | None = None,
        timeout: float | None = None,
        priority: int = 0,
        delay: float | datetime.timedelta | None = None,
        at: datetime.datetime | None = None,
        key: str | None = None,
        executor: str | None = None,
        after: Iterable[JobHandle[Any] | str] | None = None,
        **kwargs: Any,
    ) -> JobHandle[Any]:
        """Queue ``function(*args, **kwargs)`` and return at once with its handle.

        The job is committed to the store before this returns. Async
        functions run on the event loop; plain functions in a worker thread;
        ``executor="process"`` runs it in a process pool (cloudpickled, so
        lambdas and closures work). The option names below are taken: pass
        a job argument of the same name through `functools.partial`.

        Args:
            function: what to run.
            retry: how often to try it (default: the queue's default_retry,
                which by default never retries).
            timeout: seconds one attempt may take; past it, the attempt
                fails with `JobTimeoutError` (and may be retried).
            priority: higher runs first; equal priorities run in submit order.
            delay: seconds (or a timedelta) to wait before the first run.
            at: a timezone-aware datetime before which it does not run.
            key: an idempotency key: if a job with this key is kept (waiting,
                running, or finished within keep_results), that job's
                handle is returned and nothing new is queued.
            executor: ``"async"`` (on the event loop; the default for async
                functions), ``"thread"`` (the default for plain functions) or
                ``"process"``.
            after: handles (or ids) of jobs that must all succeed first; the
                job stays queued until then. If one fails for good or is
                cancelled, this job fails with `JobDependencyError` without
                running (and so do the jobs submitted after it).

        Raises:
            ValueError, TypeError: an invalid option (the message names it);
                ValueError when *after* names a job the store does not keep.
            JobSerializationError: with ``executor="process"`` or a durable
                store, the function or an argument cannot be pickled.
            JobQueueClosedError: the queue is not open.
            JobStoreUnavailableError: the store's server cannot be reached. A
                submit whose connection is lost during the call runs once more
                on a new one (its job's id keeps it from being stored twice);
                if that fails too, the job may have been stored: submit with
                *key* to make a retry safe.
        """
        core = self._running_core("submit a job")
        make = record_maker(
            self._store,
            self._defaults,
            function,
            retry,
            timeout,
            priority,
            delay,
            at,
            executor,
            after,
        )
        record = make(args, kwargs, key)
        tracing = self._system.tracing
        if tracing is None:
            record, created = await core.store.add(record)
        else:
            ((record, created),) = await add_traced(tracing, core.name, core.store, [record])
        return self._accepted(core, record, created)

    @overload
    async def submit_many(
        self,
        function: Callable[..., Awaitable[T]],
        arguments: Iterable[tuple[Any, ...]],
        /,
        *,
        retry: Retry | None = ...,
        timeout: float | None = ...,
        priority: int = ...,
        delay: float | datetime.timedelta | None = ...,
        at: datetime.datetime | None = ...,
        keys: Iterable[str | None] | None = ...,
        executor: str | None = ...,
        after: Iterable[JobHandle[Any] | str] | None = ...,
    ) -> list[JobHandle[T]]: ...

    @overload
    async def submit_many(
        self,
        function: Callable[..., T],
        arguments: Iterable[tuple[Any, ...]],
        /,
        *,
        retry: Retry | None = ...,
        timeout: float | None = ...,
        priority: int = ...,
        delay: float | datetime.timedelta | None = ...,
        at: datetime.datetime | None = ...,
        keys: Iterable[str | None] | None = ...,
        executor: str | None = ...,
        after: Iterable[JobHandle[Any] | str] | None = ...,
    ) -> list[JobHandle[T]]: ...

    async def submit_many(
        self,
        function: Callable[..., Any],
        arguments: Iterable[tuple[Any, ...]],
        /,
        *,
        retry: Retry | None = None,
        timeout: float | None = None,
        priority: int = 0,
        delay: float | datetime.timedelta | None = None,
        at: datetime.datetime | None = None,
        keys: Iterable[str | None] | None = None,
        executor: str | None = None,
        after: Iterable[JobHandle[Any] | str] | None = None,
    ) -> list[JobHandle[Any]]:
        """Queue ``function(*args)`` for each ``args`` tuple, all in one commit.

        The options are those of `submit`, shared by every job, except
        *keys*: one idempotency key (or None) per job, in the same order.
        With *after*, every job of the batch waits for those jobs (a fan-out).
        Either every job is stored, or (on an error) none is.

        Returns:
            The handles, in the order of *arguments*.

        Raises:
            ValueError: *keys* has not one entry per job; an invalid option.
            TypeError, JobSerializationError, JobQueueClosedError,
                JobStoreUnavailableError: as `submit`.
        """
        core = self._running_core("submit jobs")
        make = record_maker(
            self._store,
            self._defaults,
            function,
            retry,
            timeout,
            priority,
            delay,
            at,
            executor,
            after,
        )
        records = batch_records(make, arguments, keys)
        tracing = self._system.tracing
        if not records:
            added = []
        elif tracing is None:
            added = await core.store.add_many(records)
        else:
            added = await add_traced(tracing, core.name, core.store, records)
        return [self._accepted(core, record, created) for record, created in added]

    def _accepted(self, core: QueueCore, record: JobRecord, created: bool) -> JobHandle[Any]:
        state = core.state_of(record)
        if created:
            core.publish(JobQueued(core.name, record.id, record.name))
            core.kick()
        return JobHandle(self, state)

    async def periodic(
        self,
        function: Callable[..., Any],
        /,
        *args: Any,
        every: float | datetime.timedelta | None = None,
        cron: str | None = None,
        name: str | None = None,
        retry: Retry | None = None,
        timeout: float | None = None,
        priority: int = 0,
        executor: str | None = None,
        **kwargs: Any,
    ) -> PeriodicHandle:
        """Enqueue ``function(*args, **kwargs)`` at each tick of a schedule, until cancelled.

        Ticks fall at the multiples of *every* seconds, or at the minutes a
        five-field *cron* expression matches (UTC), in the store's clock: the
        actor system's Clock for the memory store, wall-clock time for a
        durable one. Each tick's job has the idempotency key
        ``periodic:{name}:{tick}``, so the queues of every process sharing the
        store enqueue it once between them. When the schedule starts, its
        latest tick at or before now is enqueued at once (unless it is kept
        already): ticks missed while no queue ran the schedule run once, not
        once each. The schedule stops with the queue, or with
        `PeriodicHandle.cancel`.

        Args:
            function: what to run at each tick.
            every: seconds (or a timedelta) between ticks.
            cron: a cron expression such as ``"*/5 * * * *"`` instead of *every*.
            name: the schedule's name, the same in every process that runs it
                (default: the function's qualified name).
            retry, timeout, priority, executor: as for `submit`, for each tick's job.

        Returns:
            The schedule's handle.

        Raises:
            ValueError: neither or both of *every* and *cron*, a bad schedule,
                or a schedule of that name already runs on this queue.
            TypeError, JobSerializationError, JobStoreUnavailableError: as `submit`.
            JobQueueClosedError: the queue is not open.
        """
        core = self._running_core("start a periodic job")
        schedule = check_schedule(every, cron)
        make = record_maker(
            self._store, self._defaults, function, retry, timeout, priority, None, None, executor
        )
        return await start_periodic(core, name, schedule, function, args, kwargs, make)

    async def get(self, job_id: str) -> JobHandle[Any] | None:
        """The handle of a kept job by id (from this or an earlier process), or None.

        Raises:
            JobQueueClosedError: the queue is not open.
            JobStoreUnavailableError: the store's server cannot be reached.
        """
        core = self._running_core("look up a job")
        record = await core.store.get(job_id)
        return None if record is None else JobHandle(self, core.state_of(record))

    async def cancel(self, job_id: str) -> bool:
        """Cancel a job by id and wait until it has ended; see `JobHandle.cancel`.

        Returns:
            True if the job ended cancelled.

        Raises:
            JobQueueClosedError: the queue is closed.
            JobStoreUnavailableError: the store's server cannot be reached.
        """
        core = self._running_core("cancel a job", closing_ok=True)
        return await _control.cancel(core, job_id)

    async def join(self) -> None:
        """Wait until no job waits or runs (delayed and retrying jobs included)."""
        core = self._running_core("join the queue", closing_ok=True)
        await _control.join(core)

    async def _wait(self, state: JobState, timeout: float | None) -> None:
        core = self._core
        if core is None:
            raise JobQueueClosedError(operation="wait for a job")
        if timeout is None or math.isinf(timeout):
            with core.time_may_pass():
                await state.wait()
            return
        with anyio.CancelScope() as scope, core.time_may_pass():
            timer = core.system.timer_queue.call_later(timeout, scope.cancel)
            try:
                await state.wait()
            finally:
                timer.cancel()
        if scope.cancelled_caught:
            info = state.info
            raise TimeoutError(
                f"job {info.name}[{info.id}] did not end within {timeout:g} s "
                f"(it is {info.status.value}; it goes on)"
            )

    def statistics(self) -> JobQueueStatistics:
        """A snapshot of the queue in this process: its state, workers and running jobs.

        Sync and cheap: it reads what the queue holds in memory, never the
        store (for the store's counts per status, ``await queue.counts()``).
        Works in every state of the queue, closed included.

        ``await queue.statistics()``, the API before it was sync, still works
        (deprecated): it returns the store's counts with ``workers`` and
        ``running_here``.
        """
        core = self._core
        return AwaitableStatistics(
            name=self.name,
            state=self._phase,
            workers=int(self._options["workers"]),
            running_here=0 if core is None else len(core.attempts),
            followed=0 if core is None else len(core.states),
            idle=True if core is None else core.idle or core.stopped,
            **({} if core is None else {**attrs.asdict(core.tally), **core.outage_statistics()}),
            counts=self.counts if self._phase in ("open", "closing") else None,
        )

    async def counts(self) -> JobCounts:
        """How many jobs of the store are in each status (a store query).

        Raises:
            JobQueueClosedError: the queue is not open.
            JobStoreUnavailableError: the store's server cannot be reached.
        """
        core = self._running_core("count jobs", closing_ok=True)
        return await _control.counts(core)

    async def dead_letters(self, limit: int = 100) -> list[JobInfo]:
        """The jobs that failed for good (retries exhausted), most recent first.

        Raises:
            JobQueueClosedError: the queue is not open.
            JobStoreUnavailableError: the store's server cannot be reached.
        """
        core = self._running_core("list dead letters")
        return [record.info() for record in await core.store.failed(limit)]

    async def running(self, limit: int = 100) -> list[JobInfo]:
        """The running jobs (in every process of a shared store), the earliest started first.

        Raises:
            JobQueueClosedError: the queue is not open.
            JobStoreUnavailableError: the store's server cannot be reached.
        """
        core = self._running_core("list running jobs")
        return [record.info() for record in await core.store.running_jobs(limit)]

    async def retry(self, job_id: str) -> bool:
        """Queue a dead-letter job (failed for good) again, due now, as if it were new.

        Its attempts start again from zero under its own `Retry`. Jobs that its
        failure failed (``after=`` it) stay failed, and a handle that saw the
        failure keeps it: follow the job again with ``await queue.get(job_id)``.

        Returns:
            True if the job was failed and is queued again; False otherwise
            (unknown, or not failed).

        Raises:
            JobQueueClosedError: the queue is not open.
            JobStoreUnavailableError: the store's server cannot be reached.
        """
        core = self._running_core("retry a job")
        return await _control.retry(core, job_id)
