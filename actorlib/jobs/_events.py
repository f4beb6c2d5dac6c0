"""Job events published on the system's event stream; plain frozen data."""

from __future__ import annotations

import attrs

from ._model import Progress


@attrs.frozen
class JobEvent:
    """Base of every job event: subscribe to it to see them all.

    Attributes:
        queue: the name of the queue.
        job_id: the job's id.
        name: the job function's qualified name.
    """

    queue: str
    job_id: str
    name: str


@attrs.frozen
class JobQueued(JobEvent):
    """The job was accepted (and stored) and waits for a worker."""


@attrs.frozen
class JobStarted(JobEvent):
    """An attempt started on a worker.

    Attributes:
        attempt: which run this is, from 1.
    """

    attempt: int = 1


@attrs.frozen
class JobProgress(JobEvent):
    """A running job reported progress.

    Attributes:
        progress: what it reported.
    """

    progress: Progress = attrs.field(factory=lambda: Progress(0))


@attrs.frozen
class JobSucceeded(JobEvent):
    """Final: the job returned a result (already committed to the store)."""


@attrs.frozen
class JobRetrying(JobEvent):
    """An attempt failed and the job will run again after *delay* seconds.

    Attributes:
        attempt: the attempt that failed, from 1.
        delay: seconds until the next attempt.
        error: what the attempt raised.
    """

    attempt: int = 1
    delay: float = 0.0
    error: BaseException | None = None


@attrs.frozen
class JobFailed(JobEvent):
    """Final: the last attempt failed; the job is in the dead letters.

    Attributes:
        error: what the last attempt raised.
    """

    error: BaseException | None = None


@attrs.frozen
class JobCancelled(JobEvent):
    """Final: the job was cancelled."""
