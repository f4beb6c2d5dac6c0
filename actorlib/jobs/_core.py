"""What a queue's facade and its actors share: settings, the store, and the views of jobs."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import anyio
import attrs

from .._ref import ActorRef
from ._events import (
    JobCancelled,
    JobEvent,
    JobFailed,
    JobProgress,
    JobQueued,
    JobRetrying,
    JobStarted,
    JobSucceeded,
)
from ._handle import JobState
from ._model import JobChange, JobInfo, JobRecord, JobStatus, Progress
from ._outage import StoreOutage
from ._statistics import Tally
from ._store import JobStore

if TYPE_CHECKING:
    from .._system import ActorSystem
    from ._execute import Attempt
    from ._periodic import PeriodicEntry


# The `Tally` counter each event adds one to.
_TALLIED: dict[type[JobEvent], str] = {
    JobQueued: "submitted",
    JobStarted: "attempts",
    JobSucceeded: "succeeded",
    JobFailed: "failed",
    JobRetrying: "retried",
    JobCancelled: "cancelled",
}


@attrs.frozen
class Kick:
    """Tell the scheduler to look for due jobs (coalesced: one in flight at a time)."""


@attrs.frozen
class Heard:
    """Tell the scheduler that another process may have made a job due (its
    notification); coalesced like `Kick`."""


@attrs.frozen
class Changed:
    """Tell the scheduler to read the followed jobs among `QueueCore.changed_ids`."""


#: How many ids of jobs changed elsewhere, and followed by nobody here, `QueueCore` keeps.
UNFOLLOWED_KEPT = 4096


@attrs.define(eq=False)
class QueueCore:
    """Shared by the facade (submit, cancel, wait) and the scheduler actor.

    Invariant: a `JobState` is updated only after its record was committed to
    the store, so nothing a user sees can be undone by a crash.
    """

    name: str
    system: ActorSystem
    store: JobStore
    owner: str
    workers: int
    rate_limit: float | None
    lease: float
    poll_interval: float
    keep_results: float
    scheduler: ActorRef[Any] | None = None
    # Non-final jobs that some handle (or callback) follows, by id.
    states: dict[str, JobState] = attrs.Factory(dict)
    # Attempts running in this process, by job id (cancel reaches them here).
    attempts: dict[str, Attempt] = attrs.Factory(dict)
    # Periodic schedules of this queue, by name (`JobQueue.periodic`).
    periodics: dict[str, PeriodicEntry] = attrs.Factory(dict)
    kick_pending: bool = False
    heard_pending: bool = False
    kicks: int = 0  # how many times `kick` was called: a change since a look at the store
    closing: bool = False
    # close(grace=...) gave up waiting: running attempts are cancelled and their
    # outcomes dropped, as the store puts their jobs back in the queue.
    abandoning: bool = False
    stopped: bool = False  # the scheduler actor stopped: nothing runs any more
    idle: bool = True
    drained: anyio.Event = attrs.Factory(anyio.Event)
    # Made only when someone waits: most changes have no one waiting for them.
    _changed: anyio.Event | None = None
    # What happened here, for statistics() and metrics: every event passes `publish`.
    tally: Tally = attrs.Factory(Tally)
    # The store's outage as the scheduler lives it (`_outage`).
    outage: StoreOutage = attrs.Factory(lambda core: StoreOutage(core.name), takes_self=True)
    # Outcomes the scheduler has not committed yet (kept through an outage). A Flush
    # message commits them together: those that arrive before it share one transaction.
    unsaved: list[tuple[JobRecord, JobEvent]] = attrs.Factory(list)
    # Jobs other processes changed, not read yet: notifications that arrive before
    # the scheduler handles its `Changed` share one read.
    changed_ids: set[str] = attrs.Factory(set)
    # What other processes told of the jobs they changed (see `JobChange`), not
    # shown yet: the same `Changed` shows them.
    told: list[JobChange] = attrs.Factory(list)
    # The latest jobs changed while nobody here followed them, oldest first: by
    # other processes, or (True) ended by this queue, whose events are out already.
    # A job starts being followed only once its submit (or look-up) returns, and
    # it may have run meanwhile, here or elsewhere (see `state_of`).
    unfollowed: dict[str, bool] = attrs.Factory(dict)
    # Followed jobs to read again that ended here: their reads publish no events.
    ended_here: set[str] = attrs.Factory(set)

    def outage_statistics(self) -> dict[str, object]:
        """The fields of `JobQueueStatistics` about the store's outage."""
        now = self.system.clock.now()
        return {
            "uncommitted": len(self.unsaved),
            "store_unreachable_for": self.outage.unreachable_for(now),
        }

    def kick(self) -> None:
        """Wake the scheduler (once, however many jobs arrive before it runs)."""
        self.idle = False
        self.kicks += 1
        if not self.kick_pending and self.scheduler is not None:
            self.kick_pending = True
            self.scheduler.tell(Kick())

    def heard(self) -> None:
        """Another process may have made a job due: wake the scheduler, which claims
        at once or after a pause (`Scheduler`), once however many are heard meanwhile."""
        self.idle = False
        self.kicks += 1
        if not self.heard_pending and self.scheduler is not None:
            self.heard_pending = True
            self.scheduler.tell(Heard())

    def changed_elsewhere(self, changes: list[str | JobChange]) -> None:
        """Another process changed these jobs: the scheduler shows each `JobChange`
        as it is, and reads the followed jobs given by id."""
        if not self.changed_ids and not self.told and self.scheduler is not None:
            self.scheduler.tell(Changed())
        for change in changes:
            if isinstance(change, str):
                self.changed_ids.add(change)
            else:
                self.told.append(change)

    def take_changed(self) -> tuple[list[str], list[JobChange]]:
        """The jobs changed elsewhere since the last call: the ids to read, and the
        changes told (in the order they were committed)."""
        job_ids, self.changed_ids = list(self.changed_ids), set()
        told, self.told = self.told, []
        return job_ids, told

    def changed_unfollowed(self, job_ids: list[str], *, here: bool = False) -> None:
        """Remember changed jobs that nobody here follows (yet); *here*: ended here."""
        unfollowed = self.unfollowed
        for job_id in job_ids:
            unfollowed[job_id] = here
        while len(unfollowed) > UNFOLLOWED_KEPT:
            del unfollowed[next(iter(unfollowed))]

    def publish(self, event: JobEvent) -> None:
        """Count *event* (see `Tally`) and publish it on the system's event stream."""
        field = _TALLIED.get(type(event))
        if field is not None:
            tally = self.tally
            setattr(tally, field, getattr(tally, field) + 1)
        events = self.system.events
        if events.has_subscribers():
            events.publish(event)

    def state_of(self, record: JobRecord) -> JobState:
        """The shared state of a job, made from *record* if nobody follows it yet."""
        state = self.states.get(record.id)
        if state is None:
            state = JobState(record.info())
            if not state.settled:
                self.states[record.id] = state
                here = self.unfollowed.pop(record.id, None)
                if here is not None:
                    # Changed between its read (or insert) and now, here or
                    # elsewhere, with nobody following it. Read it again.
                    if here:
                        self.ended_here.add(record.id)
                    self.changed_elsewhere([record.id])
        return state

    def committed(self, record: JobRecord) -> None:
        """Show a committed change of *record* to its handles."""
        state = self.states.get(record.id)
        if state is not None:
            state.update(record.info())
            if state.settled:
                del self.states[record.id]
        elif self.store.durable and record.status.final:
            # A look-up may have read it before it ended and follow it after.
            self.changed_unfollowed([record.id], here=True)

    def observed(self, records: list[JobRecord]) -> None:
        """Show what other processes committed about followed jobs (read from the store).

        Handles, done callbacks and the event stream learn of it as if it had
        happened here: each new status publishes its event, new progress a
        `JobProgress`. States passed over between two looks publish nothing
        (on SQLite, which is polled, a short job may go from queued to
        succeeded with no `JobStarted`). Jobs running here are left alone.
        """
        for record in records:
            state = self.states.get(record.id)
            if state is None or record.id in self.attempts:
                continue
            before = state.info
            if record.progress is not None and record.progress != before.progress:
                state.progress(record.progress)
                self.publish(JobProgress(self.name, record.id, record.name, record.progress))
            if record.status is before.status and record.attempts == before.attempts:
                continue
            self.committed(record)
            if record.id in self.ended_here:
                self.ended_here.discard(record.id)
                continue
            self._publish_change(before, record.info(), record.run_at)

    def applied(self, changes: list[JobChange]) -> list[str]:
        """Show what other processes told of followed jobs, in order, as `observed`
        shows what it reads (a change older than what a handle shows is dropped).

        Returns:
            The ids of the jobs that nobody here follows.
        """
        unfollowed: list[str] = []
        for change in changes:
            job_id = change.job_id
            state = self.states.get(job_id)
            if state is None:
                unfollowed.append(job_id)
                continue
            if job_id in self.attempts or not change.newer_than(state.info):
                continue
            before, info = state.info, change.applied_to(state.info)
            state.update(info)
            if state.settled:
                del self.states[job_id]
            if job_id in self.ended_here:
                self.ended_here.discard(job_id)
                continue
            self._publish_change(before, info, None)
        return unfollowed

    def _publish_change(self, before: JobInfo, info: JobInfo, run_at: float | None) -> None:
        """Publish the event of a followed job's new state; first its attempt's
        `JobStarted` if the job was never seen running that attempt (an attempt
        that ended soon is told by its outcome alone; a poll may pass it over)."""
        if info.attempts > before.attempts and info.status is not JobStatus.RUNNING:
            self.publish(JobStarted(self.name, info.id, info.name, info.attempts))
        event = self._event(info, run_at)
        if event is not None:
            self.publish(event)

    def _event(self, info: JobInfo, run_at: float | None) -> JobEvent | None:
        """The event of a job's new state (*run_at*: when a retrying job runs again)."""
        name, job_id, label = self.name, info.id, info.name
        match info.status:
            case JobStatus.RUNNING:
                return JobStarted(name, job_id, label, info.attempts)
            case JobStatus.SUCCEEDED:
                return JobSucceeded(name, job_id, label)
            case JobStatus.FAILED:
                return JobFailed(name, job_id, label, info.error)
            case JobStatus.CANCELLED:
                return JobCancelled(name, job_id, label)
            case JobStatus.RETRYING:
                delay = max((run_at or 0.0) - self.store.now(), 0.0)
                return JobRetrying(name, job_id, label, info.attempts, delay, info.error)
        return None  # queued again (its worker died): no event says so

    def progress(self, record: JobRecord, progress: Progress) -> None:
        record.progress = progress
        state = self.states.get(record.id)
        if state is not None:
            state.progress(progress)
        self.publish(JobProgress(self.name, record.id, record.name, progress))

    def notify(self) -> None:
        """Wake whoever waits for a change of `idle` (join, close)."""
        if self._changed is not None:
            self._changed.set()
            self._changed = None

    @contextlib.contextmanager
    def time_may_pass(self) -> Iterator[None]:
        """A context in which the caller waits for jobs, as a test's ``ask`` waits for a reply.

        In a simulated system (``actorlib.testing``), whose Delivery offers
        ``waiting()``, virtual time may then jump to the next deadline (a
        retry's backoff, a delay) once everything else is idle; if the
        simulation declares a deadlock meanwhile, the wait ends with it.
        Elsewhere this does nothing.

        Raises:
            Exception: the simulation's deadlock error.
        """
        waiting = getattr(self.system.delivery, "waiting", None)
        if not callable(waiting):
            yield
            return
        deadlock: BaseException | None = None
        with anyio.CancelScope() as scope:

            def on_deadlock(error: BaseException) -> None:
                nonlocal deadlock
                deadlock = error
                scope.cancel()

            with waiting(on_deadlock):
                yield
        if deadlock is not None:
            raise deadlock

    async def wait_changed(self) -> None:
        if self._changed is None:
            self._changed = anyio.Event()
        await self._changed.wait()

    def close_states(self, reason: str) -> None:
        states, self.states = self.states, {}
        for state in states.values():
            state.close(reason)
