"""The scheduler actor: claims due jobs for its workers, commits how they ended; runs no job."""

from __future__ import annotations

import logging
import math
from typing import Any

from .._actor import Actor
from .._messages import Terminated
from .._ref import ActorRef
from .._supervision import OneForOne
from . import _joblog as joblog
from ._core import Changed, Heard, Kick, QueueCore
from ._errors import JobLostError, JobStoreUnavailableError
from ._events import JobFailed, JobStarted
from ._execute import Attempt, Outcome
from ._following import observe, tell_started
from ._memory import MemoryStore
from ._model import WAITING, JobRecord
from ._outcomes import next_state
from ._pacing import ClaimPacing
from ._scheduling import (
    Close,
    Flush,
    HeardLate,
    PeriodicTick,
    Poll,
    Purge,
    Started,
    StoreRetry,
    TellStarted,
)
from ._started import TELL_STARTED_AFTER, StartedNotices
from ._store import claim_and_next_due
from ._ticks import enqueue_tick
from ._upkeep import Upkeep
from ._watching import StoreWatch
from ._worker import Worker, _Finished, _Run, _WorkerReady

logger = logging.getLogger("actorlib")


class Scheduler(Actor):
    """Owns the workers; hands each due job to an idle one, highest priority first.

    Invariant: a worker is idle, in `busy` with the one job it runs, or
    resting until the outcome of its last job is committed.
    """

    actorlib_traced = False  # its messages are the queue's bookkeeping, not the user's

    # A worker only fails on a bug of ours (a job's error is an outcome): restart it.
    supervisor_strategy = OneForOne(max_restarts=10, within=60.0)

    def __init__(self, core: QueueCore) -> None:
        self.core = core
        self.idle_workers: list[ActorRef[Any]] = []
        self.busy: dict[ActorRef[Any], JobRecord] = {}
        self.next_start = -math.inf  # rate limit: the earliest time the next job may start
        self.purge_at: float | None = None  # memory store: when the purge timer fires
        # Workers whose last job's outcome is in `unsaved`: they get no new job
        # until it is committed, so the store never shows more than `workers`
        # jobs running for this queue (what a crash may run again).
        self.resting: list[ActorRef[Any]] = []
        self.store_watch = StoreWatch()
        self.upkeep = Upkeep()
        # The store's `listens` at the last read of every followed job (None: no read
        # yet, or a store that cannot tell).
        self.read_while_listening: int | None = None
        # Whether a claim may find a due job: set by a wake-up (a kick, a timer, a poll)
        # or by a commit that may have made one due; cleared by a claim that took
        # fewer jobs than it asked for. A freed worker claims only while it is set:
        # a claim per ended job would double the store's load for nothing.
        self.look = True
        # When to answer other processes' notifications of new jobs (ClaimPacing).
        self.pacing = ClaimPacing()
        # The starts to tell followers elsewhere, on a store that can (None: it cannot).
        self.tell_started = getattr(core.store, "tell_started", None)
        self.started_notices = None if self.tell_started is None else StartedNotices()

    async def on_start(self) -> None:
        core = self.core
        # After a restart of this actor, jobs its old workers ran are lost: run them again.
        await core.store.release(core.owner)
        for number in range(1, core.workers + 1):  # worker-1...: as a Pool numbers its own
            await self.context.spawn(Worker, core, name=f"worker-{number}")
        if core.store.durable:
            self.context.timers.start_single("poll", Poll(), core.poll_interval)
        self.store_watch.start(core, self.context.system._start_runtime_task)

    async def on_stop(self) -> None:
        await self.store_watch.stop()
        try:
            await self._flush()
        except JobStoreUnavailableError:
            # Their jobs stay running in the store until a poll elsewhere re-queues them.
            logger.error(
                "job queue %r closed while its store could not be reached: the outcomes "
                "of %d jobs were not committed, and those jobs will run again",
                self.core.name,
                len(self.core.unsaved),
            )
        self.core.stopped = True
        self.core.close_states("the queue was closed before the job ended")
        self.core.drained.set()
        self.core.notify()

    async def receive(self, message: object) -> None:
        try:
            await self._handle(message)
        except JobStoreUnavailableError as error:
            # A store that cannot be reached (a database restarting) stops nothing:
            # what was not committed is kept, and tried again after a pause.
            pause = self.core.outage.failed(
                error, self.core.system.clock.now(), kept=len(self.core.unsaved)
            )
            self.context.timers.start_single("store-retry", StoreRetry(), pause)
            self._check_drained()  # a close waits for the store, but not for ever
            if isinstance(message, PeriodicTick):  # re-armed only once its tick is enqueued
                self.context.timers.start_single(("periodic", message.name), message, pause)

    async def _handle(self, message: object) -> None:
        match message:
            case Kick():
                self.core.kick_pending = False
                self.look = True
                await self._dispatch()
            case Heard():
                self.core.heard_pending = False
                answer = self.pacing.heard()
                if answer == "claim":
                    self.look = True
                    await self._dispatch(heard=True)
                elif answer == "wait":
                    self.context.timers.start_single("heard", HeardLate(), self.pacing.pause)
            case HeardLate():
                self.pacing.paused()
                self.look = True
                await self._dispatch(heard=True)
            case _Finished(worker, record, outcome):
                if self.busy.get(worker) is record:
                    del self.busy[worker]
                    self.resting.append(worker)
                    self._conclude(record, outcome)
                await self._dispatch()
            case Flush():
                await self._flush()
                await self._dispatch()
            case TellStarted():
                await self._tell_started()
            case _WorkerReady(worker):
                await self._worker_ready(worker)
            case Poll():
                await self._poll()
            case StoreRetry():
                await self._flush()
                await self._look_at_store()
            case Changed():
                job_ids, told = self.core.take_changed()
                await observe(self.core, job_ids, told, running=self.busy.values())
            case Purge():
                self.purge_at = None
                await self._purge_on_time()
            case Started():
                pass
            case PeriodicTick(name):
                await self._periodic_tick(name)
            case Close():
                self._close()
            case Terminated(ref=worker):
                await self._worker_gone(worker)
            case _:
                raise TypeError(f"job scheduler got an unexpected message {message!r}")

    async def _worker_ready(self, worker: ActorRef[Any]) -> None:
        record = self.busy.pop(worker, None)
        if record is not None:  # it crashed and was restarted mid-job
            self.core.attempts.pop(record.id, None)
            lost = JobLostError(job=record.label, detail="its worker crashed while running it")
            self._conclude(record, Outcome(error=lost))
            self.resting.append(worker)
        elif worker not in self.idle_workers and worker not in self.resting:
            self.idle_workers.append(worker)
        await self._dispatch()

    async def _worker_gone(self, worker: ActorRef[Any]) -> None:
        for pool in (self.idle_workers, self.resting):
            if worker in pool:
                pool.remove(worker)
        record = self.busy.pop(worker, None)
        if record is not None:
            self.core.attempts.pop(record.id, None)
            lost = JobLostError(job=record.label, detail="its worker stopped while running it")
            self._conclude(record, Outcome(error=lost))
        if not self.core.closing:
            logger.error("job worker %s stopped; starting a replacement", worker.path)
            await self.context.spawn(Worker, self.core)
        self._check_drained()

    # ------------------------------------------------------------ starting jobs

    async def _dispatch(self, *, heard: bool = False) -> None:
        """Claim due jobs for the idle workers while a claim may find some; *heard*:
        to answer another process's notification (an empty claim then was outrun)."""
        core = self.core
        clock = core.system.clock
        while self.idle_workers and self.look and not core.closing:
            limit = len(self.idle_workers)
            if core.rate_limit is not None:
                now = clock.now()
                if now < self.next_start:
                    self.context.timers.start_single("rate", Kick(), self.next_start - now)
                    return
                limit = 1
                self.next_start = max(now, self.next_start) + 1.0 / core.rate_limit
            records, due = await claim_and_next_due(core.store, core.owner, limit, core.lease)
            self.pacing.claimed(len(records), heard=heard)
            if not records and core.rate_limit is not None:
                self.next_start = -math.inf  # the slot was not used
            for record in records:
                self._start(record)
            if len(records) < limit:
                self.look = False
                await self._no_due_jobs(due)

    def _start(self, record: JobRecord) -> None:
        core = self.core
        worker = self.idle_workers.pop()
        self.busy[worker] = record
        core.idle = False
        # Registered now, not when the worker gets to it: a cancel in between
        # must find it.
        attempt = Attempt(record, core.system.timer_queue, lambda p: core.progress(record, p))
        core.attempts[record.id] = attempt
        core.committed(record)
        if record.started_at is not None:
            core.tally.wait_seconds += max(0.0, record.started_at - record.run_at)
        core.publish(JobStarted(core.name, record.id, record.name, record.attempts))
        joblog.started(core.name, record)
        worker.tell(_Run(attempt))
        notices = self.started_notices
        if notices is not None and notices.started(record, core.system.clock.now()):
            self.context.timers.start_single("started", TellStarted(), TELL_STARTED_AFTER)

    async def _tell_started(self) -> None:
        """Tell followers elsewhere of the attempts that have run a while here."""
        notices, tell = self.started_notices, self.tell_started
        assert notices is not None
        assert tell is not None
        told, later = notices.due(self.core.system.clock.now())
        if later is not None:
            self.context.timers.start_single("started", TellStarted(), later)
        if told:
            await tell_started(self.core, tell, told)

    async def _no_due_jobs(self, due: float | None) -> None:
        core, store = self.core, self.core.store
        if due is not None:
            # Something waits for its delay or backoff: come back when it is due.
            self.context.timers.start_single("due", Kick(), max(due - store.now(), 0.001))
        elif (
            not self.busy
            and not self.core.unsaved
            and not (store.durable and await store.running())
        ):
            core.idle = True
            core.notify()
        await self._purge_on_time()

    # ------------------------------------------------------------ ending jobs

    def _conclude(self, record: JobRecord, outcome: Outcome) -> None:
        """Work out the job's next state from how its attempt ended; commit it at the flush."""
        if self.started_notices is not None:
            self.started_notices.ended(record.id)
        if self.core.abandoning and outcome.cancelled:
            # Interrupted after close(grace=...): the facade puts it back in the queue.
            self._check_drained()
            return
        if not self.core.unsaved:
            self.ref.tell(Flush())
        self.core.unsaved.append(next_state(self.core, record, outcome))

    async def _flush(self) -> None:
        """Commit the gathered outcomes, then tell handles and the event stream."""
        if not self.core.unsaved:
            return
        # Kept until committed: a store that cannot be reached now gets them at the retry.
        batch = list(self.core.unsaved)
        failed = await self.core.store.save_many([record for record, _ in batch])
        del self.core.unsaved[: len(batch)]
        # Dependents the same commit failed (a prerequisite failed or was cancelled).
        batch += [
            (record, JobFailed(self.core.name, record.id, record.name, record.error))
            for record in failed or ()
            if record.error is not None
        ]
        self.idle_workers += self.resting
        self.resting = []
        # A retry waits for its backoff: look again. A job that ended may have
        # released jobs that waited for it: a store that watches wakes the queue
        # for those (its own commits' included); without one, look again.
        unheard = self.store_watch.running is None
        if any(r.status in WAITING or (r.status.final and unheard) for r, _ in batch):
            self.look = True
        for record, event in batch:
            self.core.committed(record)
            self.core.publish(event)
            joblog.ended(record, event)
        self._check_drained()
        await self._purge_on_time()

    async def _purge_on_time(self) -> None:
        """Memory store: delete expired results now, and set a timer for the next to expire.

        A durable store is purged by `Poll`. The memory store has no poll: a
        timer on the Clock fires when the oldest kept job expires, so results
        and idempotency keys go on time even while no job runs.
        """
        store, keep = self.core.store, self.core.keep_results
        if not isinstance(store, MemoryStore):
            return
        await store.purge(keep)
        expiry = store.next_expiry(keep)
        if expiry != self.purge_at:
            self.purge_at = expiry
            if expiry is None:
                self.context.timers.cancel("purge")
            else:
                self.context.timers.start_single("purge", Purge(), max(expiry - store.now(), 0.0))

    async def _periodic_tick(self, name: str) -> None:
        """Enqueue the schedule's latest tick (`enqueue_tick`), then wait for the next one."""
        delay = await enqueue_tick(self.core, name, self.context.system.tracing)
        if delay is not None:
            self.context.timers.start_single(("periodic", name), PeriodicTick(name), delay)

    def _close(self) -> None:
        """Stop starting jobs; drained once the running ones end."""
        self.core.closing = True
        self._check_drained()

    def _check_drained(self) -> None:
        # Outcomes that a store unreachable for a while has not committed hold a close
        # up no longer: `on_stop` tries them once more, and their jobs run again if lost.
        core = self.core
        if not core.closing or self.busy:
            return
        if not self.core.unsaved or core.outage.past_patience(core.system.clock.now()):
            core.drained.set()

    async def _poll(self) -> None:
        # Fixed delay, not fixed rate: a poll slower than the interval (a
        # store under load) must not pile polls up ahead of the outcomes
        # waiting to be committed.
        try:
            await self._look_at_store()
        finally:
            self.context.timers.start_single("poll", Poll(), self.core.poll_interval)

    async def _look_at_store(self) -> None:
        """Renew, reclaim, purge; read the followed jobs if notices may have been
        missed; claim. Every step calls the store: its success ends an outage."""
        self.store_watch.start(self.core, self.context.system._start_runtime_task)
        self.look = True  # the safety net for a wake-up that was missed
        core, store = self.core, self.core.store
        await self.upkeep.run(core, self.busy.values())
        # Jobs followed here but run by another process: see how they are doing,
        # unless the store has been listening without a break since the last such
        # read (it tells every change then: a read would find nothing new).
        listens = getattr(store, "listens", None)
        if listens is None or listens != self.read_while_listening:
            await observe(core, list(core.states), running=self.busy.values())
            self.read_while_listening = listens
        await self._dispatch()
        core.outage.reached(core.system.clock.now())
