"""Turning a submitted call into a job record, its options checked once per submit."""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from . import _codec
from ._model import JobRecord, Retry
from ._options import check_key, check_submit_options, choose_executor
from ._store import JobStore


def record_maker(
    store: JobStore,
    defaults: tuple[Retry, float | None],
    function: Callable[..., Any],
    retry: Retry | None,
    timeout: float | None,
    priority: int,
    delay: float | datetime.timedelta | None,
    at: datetime.datetime | None,
    executor: str | None,
    after: object = None,
) -> Callable[[tuple[Any, ...], dict[str, Any], str | None], JobRecord]:
    """Check submit's options once; return what makes each job's record from its call."""
    if not callable(function):
        raise TypeError(f"submit() expects a callable job function, got {function!r}")
    retry = defaults[0] if retry is None else retry
    timeout = defaults[1] if timeout is None else timeout
    wait = check_submit_options(retry, timeout, priority, delay, at, None)
    executor = choose_executor(function, executor)
    name = _codec.qualified_name(function)
    prerequisites = check_after(after)

    def make(args: tuple[Any, ...], kwargs: dict[str, Any], key: str | None) -> JobRecord:
        check_key(key)
        if executor == "process":
            _codec.dumps_call(
                function,
                args,
                kwargs,
                hint="executor='process' ships the job to another process with "
                "cloudpickle; pass plain data, or use executor='thread'",
            )
        now = store.now()
        return JobRecord(
            id=uuid.uuid4().hex,
            name=name,
            function=function,
            args=args,
            kwargs=kwargs,
            executor=executor,
            priority=priority,
            timeout=timeout,
            retry=retry,
            key=key,
            created_at=now,
            run_at=now + wait,
            after=prerequisites,
        )

    return make


def batch_records(
    make: Callable[[tuple[Any, ...], dict[str, Any], str | None], JobRecord],
    arguments: Iterable[tuple[Any, ...]],
    keys: Iterable[str | None] | None,
) -> list[JobRecord]:
    """The records of a `submit_many` batch: one per ``args`` tuple, with its key.

    Raises:
        TypeError: an ``args`` that is not a tuple.
        ValueError: *keys* has not one entry per job.
    """
    calls = [check_args(args) for args in arguments]
    job_keys = [None] * len(calls) if keys is None else list(keys)
    if len(job_keys) != len(calls):
        raise ValueError(
            f"submit_many() needs one key per job: {len(calls)} jobs, {len(job_keys)} keys"
        )
    return [make(args, {}, key) for args, key in zip(calls, job_keys, strict=True)]


def check_args(args: object) -> tuple[Any, ...]:
    """One job's positional arguments in a `submit_many` batch."""
    if not isinstance(args, tuple):
        raise TypeError(
            f"submit_many() expects a tuple of arguments per job, e.g. [(1, 2), (3, 4)], "
            f"got {args!r}"
        )
    return args


def check_after(after: object) -> tuple[str, ...]:
    """The job ids of ``after=``: handles or ids, in an iterable (None: no prerequisite).

    Raises:
        TypeError: not an iterable of `JobHandle` objects and str ids.
    """
    if after is None:
        return ()
    if isinstance(after, str) or not isinstance(after, Iterable):
        raise TypeError(
            f"after must be a list of job handles or ids, e.g. after=[first, second], got {after!r}"
        )
    ids: list[str] = []
    for item in after:
        job_id = getattr(item, "id", item) if not isinstance(item, str) else item
        if not isinstance(job_id, str) or not job_id:
            raise TypeError(f"after must hold job handles or job ids (str), got {item!r}")
        ids.append(job_id)
    return tuple(dict.fromkeys(ids))
