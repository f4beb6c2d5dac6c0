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
from ._model import JobRecord, JobStatus, Progress
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
    # Jobs other processes changed, not read yet: notifications that arrive before
    # the scheduler handles its `Changed` share one read.
    changed_ids: set[str] = attrs.Factory(set)
    # The latest jobs other processes changed while nobody here followed them,
    # oldest first: a job starts being followed only once its submit (or look-up)
    # returns, and another process may have run it meanwhile (see `state_of`).
    unfollowed: dict[str, None] = attrs.Factory(dict)

    def kick(self) -> None:
        """Wake the scheduler (once, however many jobs arrive before it runs)."""
        self.idle = False
        self.kicks += 1
        if not self.kick_pending and self.scheduler is not None:
            self.kick_pending = True
            self.scheduler.tell(Kick())

    def changed_elsewhere(self, job_ids: list[str]) -> None:
        """Another process changed these jobs: the scheduler reads the followed ones."""
        if not self.changed_ids and self.scheduler is not None:
            self.scheduler.tell(Changed())
        self.changed_ids.update(job_ids)

    def take_changed(self) -> list[str]:
        """The jobs changed elsewhere since the last call."""
        job_ids, self.changed_ids = list(self.changed_ids), set()
        return job_ids

    def changed_unfollowed(self, job_ids: list[str]) -> None:
        """Remember jobs changed elsewhere that nobody here follows (yet)."""
        unfollowed = self.unfollowed
        for job_id in job_ids:
            unfollowed[job_id] = None
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
                if self.unfollowed.pop(record.id, 0) is None:
                    # Changed elsewhere between its read (or insert) and now: its
                    # notification found nobody following it. Read it again.
                    self.changed_elsewhere([record.id])
        return state

    def committed(self, record: JobRecord) -> None:
        """Show a committed change of *record* to its handles."""
        state = self.states.get(record.id)
        if state is not None:
            state.update(record.info())
            if state.settled:
                del self.states[record.id]

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
            event = self._event_of(record)
            if event is not None:
                self.publish(event)

    def _event_of(self, record: JobRecord) -> JobEvent | None:
        name, job_id, label = self.name, record.id, record.name
        match record.status:
            case JobStatus.RUNNING:
                return JobStarted(name, job_id, label, record.attempts)
            case JobStatus.SUCCEEDED:
                return JobSucceeded(name, job_id, label)
            case JobStatus.FAILED:
                return JobFailed(name, job_id, label, record.error)
            case JobStatus.CANCELLED:
                return JobCancelled(name, job_id, label)
            case JobStatus.RETRYING:
                delay = max(record.run_at - self.store.now(), 0.0)
                return JobRetrying(name, job_id, label, record.attempts, delay, record.error)
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
