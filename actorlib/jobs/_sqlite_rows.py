"""The SQLite store's schema and how a job record maps to a row and back."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import _codec
from ._errors import JobDependencyError
from ._model import JobRecord, JobStatus, Progress

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    key TEXT UNIQUE,
    name TEXT NOT NULL,
    function BLOB NOT NULL,
    arguments BLOB NOT NULL,
    executor TEXT NOT NULL,
    priority INTEGER NOT NULL,
    timeout REAL,
    retry BLOB NOT NULL,
    status TEXT NOT NULL,
    run_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    result BLOB,
    error BLOB,
    progress BLOB,
    created_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL,
    owner TEXT,
    lease_until REAL,
    blockers INTEGER NOT NULL DEFAULT 0,
    trace TEXT
);
CREATE INDEX IF NOT EXISTS jobs_waiting ON jobs (priority DESC, seq)
    WHERE status IN ('queued', 'retrying');
CREATE INDEX IF NOT EXISTS jobs_due ON jobs (run_at) WHERE status IN ('queued', 'retrying');
CREATE INDEX IF NOT EXISTS jobs_running ON jobs (lease_until) WHERE status = 'running';
CREATE INDEX IF NOT EXISTS jobs_finished ON jobs (finished_at)
    WHERE status IN ('succeeded', 'failed', 'cancelled');
"""

# The edges of submit(..., after=...): a row while the prerequisite has not ended.
DEPENDENCIES = """
CREATE TABLE IF NOT EXISTS dependencies (
    prerequisite TEXT NOT NULL,
    dependent TEXT NOT NULL,
    PRIMARY KEY (prerequisite, dependent)
);
"""

WAITING_SQL = "status IN ('queued', 'retrying')"
# What `retry_failed` sets (one parameter: the run time), in SQLite and PostgreSQL alike.
RETRY_FAILED_SQL = (
    "status = 'queued', attempts = 0, error = NULL, progress = NULL, started_at = NULL, "
    "finished_at = NULL, owner = NULL, lease_until = NULL, run_at = ?"
)
# Waiting and not blocked by a prerequisite: what a claim may take.
READY_SQL = f"{WAITING_SQL} AND blockers = 0"
COLUMNS = (
    "seq, id, key, name, function, arguments, executor, priority, timeout, retry, status, "
    "run_at, attempts, result, error, progress, created_at, started_at, finished_at, owner, "
    "lease_until, blockers, trace"
)


def _not_loaded(*args: object, **kwargs: object) -> object:
    raise RuntimeError("this job's function was not loaded from the store")


def _unimportable(error: Exception, name: str) -> Callable[..., object]:
    def fail(*args: object, **kwargs: object) -> object:
        module = name.rpartition(".")[0]
        raise ImportError(
            f"cannot load job function {name} in this process ({error}); start the worker "
            f"with --import {module}, or make the module importable (PYTHONPATH)"
        ) from error

    return fail


class Memo:
    """The encodings most jobs of a queue share, made once: a function stored by
    import path, a retry policy (frozen), no arguments. A function stored by
    value is never memoized: each job gets its own unpickled copy."""

    def __init__(self) -> None:
        self._functions: dict[Callable[..., Any], bytes] = {}
        self._retries: dict[object, bytes] = {}
        self._decoded_retries: dict[bytes, Any] = {}
        self._no_arguments = _codec.encode_arguments(_not_loaded, (), {})

    def function(self, function: Callable[..., Any]) -> bytes:
        try:
            return self._functions[function]
        except (KeyError, TypeError):  # TypeError: an unhashable callable object
            pass
        data = _codec.encode_function(function)
        if data.startswith(b"I"):
            self._functions[function] = data
        return data

    def arguments(self, record: JobRecord) -> bytes:
        if not record.args and not record.kwargs:
            return self._no_arguments
        return _codec.encode_arguments(record.function, record.args, record.kwargs)

    def retry(self, record: JobRecord) -> bytes:
        data = self._retries.get(record.retry)
        if data is None:
            data = self._retries[record.retry] = _codec.encode_outcome(record.retry, record.label)
        return data

    def decode_retry(self, data: bytes) -> Any:
        retry = self._decoded_retries.get(data)
        if retry is None:
            retry = self._decoded_retries[data] = _codec.decode(data)
        return retry


def insert_row(record: JobRecord, memo: Memo) -> tuple[object, ...]:
    """The INSERT parameters of a new job (function and arguments encoded)."""
    return (
        record.id,
        record.key,
        record.name,
        memo.function(record.function),
        memo.arguments(record),
        record.executor,
        record.priority,
        record.timeout,
        memo.retry(record),
        record.status.value,
        record.run_at,
        record.created_at,
        record.trace,
    )


def encode_progress(progress: Progress) -> bytes:
    """A progress report as stored in the progress column."""
    return _codec.encode_outcome(progress, "")


def state_row(record: JobRecord) -> tuple[object, ...]:
    """The UPDATE parameters of a job's new state, its id last."""
    return (
        record.status.value,
        record.run_at,
        record.attempts,
        None if record.result is None else _codec.encode_outcome(record.result, record.label),
        None if record.error is None else _codec.encode_outcome(record.error, record.label),
        None if record.progress is None else _codec.encode_outcome(record.progress, ""),
        record.started_at,
        record.finished_at,
        record.owner,
        record.lease_until,
        record.id,
    )


Live = dict[str, tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]]
# What to do with a row's function and arguments: leave them (False), decode
# them (True), or take the live ones of this process where it has them.
Load = bool | Live


def record_of(row: tuple[Any, ...], *, load: Load, memo: Memo) -> JobRecord:
    """The record of a row selected with COLUMNS."""
    (seq, job_id, key, name, function, arguments, executor, priority, timeout, retry) = row[:10]
    (status, run_at, attempts, result, error, progress, created, started, finished) = row[10:19]
    owner, lease_until, blockers, trace = row[19:]
    fn: Callable[..., Any] = _not_loaded
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = {}
    if isinstance(load, dict) and job_id in load:
        fn, args, kwargs = load[job_id]
    elif load is not False:
        try:
            fn = _codec.decode_function(function)
            args, kwargs = _codec.decode(arguments)
        except Exception as exc:  # an import error is the job's failure, not the store's
            fn = _unimportable(exc, name)
    return JobRecord(
        id=job_id,
        name=name,
        function=fn,
        args=args,
        kwargs=kwargs,
        executor=executor,
        priority=priority,
        timeout=timeout,
        retry=memo.decode_retry(retry),
        key=key,
        created_at=created,
        run_at=run_at,
        status=JobStatus(status),
        seq=seq,
        attempts=attempts,
        result=_codec.decode(result),
        error=_codec.decode(error),
        progress=_codec.decode(progress),
        started_at=started,
        finished_at=finished,
        owner=owner,
        lease_until=lease_until,
        blockers=blockers,
        trace=trace,
    )


def dependency_failures(
    dependents: list[tuple[str, str]], prerequisite: str, status: str, now: float, live: Live
) -> list[tuple[object, ...]]:
    """The (error, finished_at, id) UPDATE parameters that fail each (id, name) of
    *dependents* with `JobDependencyError`, naming *prerequisite*; each leaves *live*."""
    rows: list[tuple[object, ...]] = []
    for job_id, name in dependents:
        error = JobDependencyError(
            job=f"{name}[{job_id}]", prerequisite=prerequisite, status=status
        )
        rows.append((_codec.encode_outcome(error, error.job), now, job_id))
        live.pop(job_id, None)
    return rows
