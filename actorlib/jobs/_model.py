"""What a job is: its status, retry policy, record and snapshot; knows nothing about running it."""

from __future__ import annotations

import enum
import math
from collections.abc import Callable
from typing import Any

import attrs

from .._supervision import Backoff


class JobStatus(enum.StrEnum):
    """Where a job is in its life. `succeeded`, `failed` and `cancelled` are final."""

    QUEUED = "queued"
    """Accepted and waiting: for a worker, for its delay to pass, or for its prerequisites
    (``submit(..., after=...)``) to succeed."""
    RUNNING = "running"
    """An attempt is running on a worker."""
    RETRYING = "retrying"
    """An attempt failed; the next one waits for its backoff delay."""
    SUCCEEDED = "succeeded"
    """Final: the job returned a result."""
    FAILED = "failed"
    """Final: the last attempt failed (the job is in the queue's dead letters)."""
    CANCELLED = "cancelled"
    """Final: the job was cancelled."""

    @property
    def final(self) -> bool:
        """True for the three states a job never leaves."""
        return self in _FINAL


_FINAL = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED})
WAITING = (JobStatus.QUEUED, JobStatus.RETRYING)

EXECUTORS = ("async", "thread", "process")


def _check_attempts(_: object, __: object, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"Retry attempts must be an int, got {value!r}")
    if value < 1:
        raise ValueError(f"Retry attempts must be >= 1 (1 means no retry), got {value!r}")


def _check_backoff(_: object, __: object, value: object) -> None:
    if not isinstance(value, Backoff):
        raise TypeError(f"Retry backoff must be an actorlib.Backoff, got {value!r}")


def _check_retry_on(_: object, __: object, value: tuple[type[BaseException], ...]) -> None:
    if not isinstance(value, tuple) or not all(
        isinstance(t, type) and issubclass(t, BaseException) for t in value
    ):
        raise TypeError(
            f"Retry retry_on must be a tuple of exception classes, e.g. (OSError,), got {value!r}"
        )


@attrs.frozen
class Retry:
    """How often a job is tried, and how long it waits between tries.

    Args:
        attempts: how many times the job runs at most, the first run included
            (``1``: never retried).
        backoff: the delay before each retry: `Backoff.min` before the first
            retry, growing by `Backoff.factor` up to `Backoff.max`, spread by
            its jitter.
        retry_on: the exception types that are retried; any other error
            fails the job at once. Timeouts (`JobTimeoutError`) are errors like
            any other.

    Raises:
        ValueError: *attempts* below 1.
        TypeError: arguments of the wrong type.
    """

    attempts: int = attrs.field(default=1, validator=_check_attempts)
    backoff: Backoff = attrs.field(
        default=Backoff(min=1.0, max=60.0, factor=2.0, jitter=0.1), validator=_check_backoff
    )
    retry_on: tuple[type[BaseException], ...] = attrs.field(
        default=(Exception,), validator=_check_retry_on
    )

    def should_retry(self, error: BaseException, attempts_made: int) -> bool:
        """True if a job that failed with *error* after *attempts_made* runs runs again."""
        return attempts_made < self.attempts and isinstance(error, self.retry_on)


NO_RETRY = Retry()


@attrs.frozen
class Progress:
    """How far a running job has got, as it last reported with `report_progress`.

    Attributes:
        done: units done.
        total: units in all, or None if unknown.
        note: a short free text, or None.
    """

    done: float
    total: float | None = None
    note: str | None = None

    @property
    def fraction(self) -> float | None:
        """done / total, or None when the total is unknown or zero."""
        return self.done / self.total if self.total else None


def check_progress(done: object, total: object, note: object) -> Progress:
    """Validate the arguments of `report_progress`.

    Raises:
        TypeError, ValueError: a non-number, a negative or NaN count, a non-str note.
    """
    for what, value in (("done", done), ("total", total)):
        if value is None and what == "total":
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError(f"report_progress() {what} must be a number, got {value!r}")
        if math.isnan(value) or value < 0:
            raise ValueError(f"report_progress() {what} must be >= 0, got {value!r}")
    if note is not None and not isinstance(note, str):
        raise TypeError(f"report_progress() note must be a str or None, got {note!r}")
    return Progress(done, total, note)  # type: ignore[arg-type]


@attrs.frozen
class JobInfo:
    """A snapshot of one job, as the queue last recorded it.

    Attributes:
        id: the job's id.
        name: the job function's qualified name.
        status: its `JobStatus`.
        priority: higher runs first.
        key: its idempotency key, or None.
        attempts: how many runs have started.
        max_attempts: its `Retry.attempts`.
        progress: the last reported `Progress`, or None.
        result: the return value, once succeeded.
        error: the last attempt's error (the final one, once failed).
        created_at, started_at, finished_at: times in the store's clock.
    """

    id: str
    name: str
    status: JobStatus
    priority: int
    key: str | None
    attempts: int
    max_attempts: int
    progress: Progress | None
    result: object
    error: BaseException | None
    created_at: float
    started_at: float | None
    finished_at: float | None


@attrs.define(eq=False)
class JobRecord:
    """Everything a store keeps of a job: what to run, how, and how far it got.

    `function` and the arguments are live objects here; a durable store
    encodes them (see `_codec`). Times are in the store's clock.
    """

    id: str
    name: str
    function: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    executor: str
    priority: int
    timeout: float | None
    retry: Retry
    key: str | None
    created_at: float
    run_at: float
    status: JobStatus = JobStatus.QUEUED
    seq: int = 0
    attempts: int = 0
    result: object = None
    error: BaseException | None = None
    progress: Progress | None = None
    started_at: float | None = None
    finished_at: float | None = None
    owner: str | None = None
    lease_until: float | None = None
    # The ids of the jobs that must succeed before this one runs (submit's after=),
    # as submitted; the stores keep the edges, and `blockers` counts the ones
    # that have not succeeded yet. Invariant: a job with blockers > 0 is queued
    # and never claimed.
    after: tuple[str, ...] = ()
    blockers: int = 0
    # The trace context of its submit (a W3C traceparent) while tracing is on,
    # so that its attempts continue the trace on any worker (see _tracing).
    trace: str | None = None

    @property
    def label(self) -> str:
        """How messages name the job: ``module.function[id]``."""
        return f"{self.name}[{self.id}]"

    def info(self) -> JobInfo:
        """A frozen snapshot for users."""
        return JobInfo(
            id=self.id,
            name=self.name,
            status=self.status,
            priority=self.priority,
            key=self.key,
            attempts=self.attempts,
            max_attempts=self.retry.attempts,
            progress=self.progress,
            result=self.result,
            error=self.error,
            created_at=self.created_at,
            started_at=self.started_at,
            finished_at=self.finished_at,
        )


@attrs.frozen
class JobChange:
    """What another process committed about a job, as its notification says it:
    enough to show the change without reading the job's row.

    Only two changes are told this way (a store sends the id alone for any
    other, and its followers read the row): an attempt started (`RUNNING`,
    with its number and start time), and a success whose result fits in a
    notification (`SUCCEEDED`, with the result and both times).
    """

    job_id: str
    status: JobStatus
    attempts: int
    started_at: float | None
    finished_at: float | None = None
    result: object = None

    def newer_than(self, info: JobInfo) -> bool:
        """Whether this change comes after the state *info* shows (never go back)."""
        return (self.attempts, _RANK[self.status]) > (info.attempts, _RANK[info.status])

    def applied_to(self, info: JobInfo) -> JobInfo:
        """*info* as this change leaves it."""
        if self.status is JobStatus.RUNNING:
            return attrs.evolve(
                info, status=self.status, attempts=self.attempts, started_at=self.started_at
            )
        return attrs.evolve(
            info,
            status=self.status,
            attempts=self.attempts,
            started_at=self.started_at,
            finished_at=self.finished_at,
            result=self.result,
            error=None,
        )


# The order of a job's states within one attempt: a change never moves a job back.
_RANK = {
    JobStatus.QUEUED: 0,
    JobStatus.RUNNING: 1,
    JobStatus.RETRYING: 2,
    JobStatus.SUCCEEDED: 3,
    JobStatus.FAILED: 3,
    JobStatus.CANCELLED: 3,
}
