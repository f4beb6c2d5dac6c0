"""actorlib.jobs: asynchronous job processing on actors, durable with nothing lost.

A `JobQueue` takes jobs (functions and their arguments) and returns a
`JobHandle` at once; a supervised pool of worker actors runs them by
priority, with delays, timeouts, retries with backoff, progress and events.
With ``store="sqlite:///jobs.db"`` every job is committed before `submit`
returns, and a queue reopening the file resumes whatever a killed process
left unfinished; ``store="postgresql://..."`` shares the jobs between hosts.
"""

from __future__ import annotations

from ._errors import (
    JobCancelledError,
    JobDependencyError,
    JobError,
    JobExitError,
    JobLostError,
    JobMainGuardError,
    JobQueueClosedError,
    JobSerializationError,
    JobStoreUnavailableError,
    JobTimeoutError,
)
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
from ._execute import current_job_id, report_progress
from ._handle import JobHandle
from ._memory import MemoryStore
from ._model import JobInfo, JobRecord, JobStatus, Progress, Retry
from ._open import open_queues
from ._periodic import PeriodicHandle
from ._postgres import PostgresStore
from ._queue import JobQueue
from ._sqlite import SqliteStore
from ._statistics import JobCounts, JobQueueStatistics
from ._store import JobStore

__all__ = [
    "JobCancelled",
    "JobCancelledError",
    "JobCounts",
    "JobDependencyError",
    "JobError",
    "JobEvent",
    "JobExitError",
    "JobFailed",
    "JobHandle",
    "JobInfo",
    "JobLostError",
    "JobMainGuardError",
    "JobProgress",
    "JobQueue",
    "JobQueueClosedError",
    "JobQueueStatistics",
    "JobQueued",
    "JobRecord",
    "JobRetrying",
    "JobSerializationError",
    "JobStarted",
    "JobStatus",
    "JobStore",
    "JobStoreUnavailableError",
    "JobSucceeded",
    "JobTimeoutError",
    "MemoryStore",
    "PeriodicHandle",
    "PostgresStore",
    "Progress",
    "Retry",
    "SqliteStore",
    "current_job_id",
    "open_queues",
    "report_progress",
]
