"""What a job's state becomes when an attempt ends; knows no actors, timers or stores' calls."""

from __future__ import annotations

from typing import Any

import attrs

from ._core import QueueCore
from ._events import JobCancelled, JobEvent, JobFailed, JobRetrying, JobSucceeded
from ._execute import Outcome
from ._model import JobRecord, JobStatus


def next_state(core: QueueCore, record: JobRecord, outcome: Outcome) -> tuple[JobRecord, JobEvent]:
    """The job's state after an attempt that ended as *outcome*, and the event telling it.

    The new state goes on a copy: the record the store holds changes only
    when the store commits it.
    """
    now = core.store.now()
    if record.started_at is not None:
        core.tally.run_seconds += max(0.0, now - record.started_at)
    error = outcome.error
    event: JobEvent
    changes: dict[str, Any] = {"owner": None, "lease_until": None, "error": error}
    if error is None:
        changes.update(status=JobStatus.SUCCEEDED, result=outcome.value, finished_at=now)
        event = JobSucceeded(core.name, record.id, record.name)
    elif outcome.cancelled:
        changes.update(status=JobStatus.CANCELLED, finished_at=now)
        event = JobCancelled(core.name, record.id, record.name)
    elif record.retry.should_retry(error, record.attempts):
        delay = record.retry.backoff.delay(record.attempts - 1, core.system.random)
        changes.update(status=JobStatus.RETRYING, run_at=now + delay)
        event = JobRetrying(core.name, record.id, record.name, record.attempts, delay, error)
    else:
        error.add_note(
            f"raised by job {record.label} on attempt {record.attempts} "
            f"of {record.retry.attempts} (queue {core.name!r})"
        )
        changes.update(status=JobStatus.FAILED, finished_at=now)
        event = JobFailed(core.name, record.id, record.name, error)
    return attrs.evolve(record, **changes), event
