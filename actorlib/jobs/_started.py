"""Which attempts running here to tell other processes of, and when; knows no store."""

from __future__ import annotations

import attrs

from ._model import JobRecord

#: Seconds an attempt runs before the queue tells followers in other processes
#: that it started (a store that can: `PostgresStore.tell_started`). An attempt
#: that ends sooner is told by its outcome alone, which says when it started:
#: a notification per claim cost every listening session of the database a
#: wake-up for a state that, for most jobs, lasts a millisecond.
TELL_STARTED_AFTER = 0.01


@attrs.define
class StartedNotices:
    """The attempts running here whose start has not been told yet.

    Invariant: `waiting` holds a job from its start here until its start is
    told or its attempt ends, whichever comes first.
    """

    # Job id -> (the running record, when it started on the queue's clock).
    waiting: dict[str, tuple[JobRecord, float]] = attrs.Factory(dict)
    # Whether the queue's timer for `due` is set. It is left to fire when its jobs
    # end first (once per TELL_STARTED_AFTER at most), rather than set per job.
    armed: bool = False

    def started(self, record: JobRecord, now: float) -> bool:
        """Note an attempt started at *now*; True if the timer must be set (it is not)."""
        self.waiting[record.id] = (record, now)
        if self.armed:
            return False
        self.armed = True
        return True

    def ended(self, job_id: str) -> None:
        """The attempt ended: its outcome tells all."""
        self.waiting.pop(job_id, None)

    def due(self, now: float) -> tuple[list[JobRecord], float | None]:
        """The attempts to tell of at *now* (forgotten here), and how long until the
        next one is due (None: none waits)."""
        told = [
            record
            for record, since in self.waiting.values()
            if now - since >= TELL_STARTED_AFTER * 0.999  # timers may fire a hair early
        ]
        for record in told:
            del self.waiting[record.id]
        self.armed = bool(self.waiting)  # the caller sets the timer again, for the rest
        if not self.waiting:
            return told, None
        first = min(since for _, since in self.waiting.values())
        return told, max(first + TELL_STARTED_AFTER - now, 0.0)
