"""Validation of queue and submit options: each bad value gets an error naming it."""

from __future__ import annotations

import datetime
import inspect
import math
from collections.abc import Callable
from typing import Any

from .._checks import check_name
from ._model import EXECUTORS, Retry


def _number(what: str, value: object, *, positive: bool, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        none = " or None" if allow_none else ""
        raise TypeError(f"{what} must be a number of seconds{none}, got {value!r}")
    if math.isnan(value) or value < 0 or (positive and value == 0):
        rule = "> 0" if positive else ">= 0"
        raise ValueError(f"{what} must be a number {rule}, got {value!r}")


def check_queue_options(
    *,
    workers: object,
    name: object,
    rate_limit: object,
    keep_results: object,
    lease: object,
    poll_interval: object,
    default_retry: object,
    default_timeout: object,
) -> None:
    """Raise TypeError or ValueError naming the first invalid `JobQueue` option."""
    if isinstance(workers, bool) or not isinstance(workers, int):
        raise TypeError(f"workers must be an int, got {workers!r}")
    if workers < 0:
        raise ValueError(
            f"workers must be at least 0 (0: a producer that submits and follows jobs but runs "
            f"none), got {workers!r}"
        )
    check_name(name, "queue name")
    if rate_limit is not None:
        if isinstance(rate_limit, bool) or not isinstance(rate_limit, int | float):
            raise TypeError(
                f"rate_limit must be jobs per second (a number) or None, got {rate_limit!r}"
            )
        if math.isnan(rate_limit) or math.isinf(rate_limit) or rate_limit <= 0:
            raise ValueError(
                f"rate_limit must be a finite number of jobs per second > 0, got {rate_limit!r}"
            )
    _number("keep_results", keep_results, positive=False)
    _number("lease", lease, positive=True)
    _number("poll_interval", poll_interval, positive=True)
    assert isinstance(lease, int | float)
    assert isinstance(poll_interval, int | float)
    if lease < 2 * poll_interval:
        raise ValueError(
            f"lease must be at least twice poll_interval, so that a live queue renews its "
            f"leases in time; got lease={lease!r}, poll_interval={poll_interval!r}"
        )
    if default_retry is not None and not isinstance(default_retry, Retry):
        raise TypeError(f"default_retry must be a Retry or None, got {default_retry!r}")
    check_timeout_option("default_timeout", default_timeout)


def check_key(key: object) -> None:
    """An idempotency key: None, or a non-empty str."""
    if key is not None and (not isinstance(key, str) or not key):
        raise ValueError(f"key must be a non-empty str or None, got {key!r}")


def check_timeout_option(what: str, timeout: object) -> None:
    """A job timeout: None, or seconds > 0."""
    _number(what, timeout, positive=True, allow_none=True)


def check_submit_options(
    retry: object,
    timeout: object,
    priority: object,
    delay: object,
    at: object,
    key: object,
) -> float:
    """Validate `JobQueue.submit`'s options; return the seconds to wait before the first run.

    Raises:
        TypeError, ValueError: the first invalid option, named.
    """
    if not isinstance(retry, Retry):
        raise TypeError(f"retry must be a Retry(attempts, backoff), got {retry!r}")
    check_timeout_option("timeout", timeout)
    if isinstance(priority, bool) or not isinstance(priority, int):
        raise TypeError(f"priority must be an int (higher runs first), got {priority!r}")
    if not -(2**62) <= priority <= 2**62:
        raise ValueError(f"priority must be within ±2**62, got {priority!r}")
    check_key(key)
    if delay is not None and at is not None:
        raise ValueError("pass delay= or at=, not both")
    if isinstance(delay, datetime.timedelta):
        delay = delay.total_seconds()
    if delay is not None:
        _number("delay", delay, positive=False)
        if math.isinf(delay):  # type: ignore[arg-type]
            raise ValueError(f"delay must be finite, got {delay!r}")
        return float(delay)  # type: ignore[arg-type]
    if at is not None:
        if not isinstance(at, datetime.datetime):
            raise TypeError(f"at must be a datetime, got {at!r}")
        if at.tzinfo is None:
            raise ValueError(
                f"at must be timezone-aware (e.g. datetime.now(timezone.utc) + ...), got {at!r}"
            )
        return max(0.0, (at - datetime.datetime.now(datetime.UTC)).total_seconds())
    return 0.0


def choose_executor(function: Callable[..., Any], executor: str | None) -> str:
    if executor is None:
        return "async" if is_async(function) else "thread"
    if executor not in EXECUTORS:
        raise ValueError(
            f"executor must be one of {', '.join(map(repr, EXECUTORS))} or None (choose by "
            f"function), got {executor!r}"
        )
    return executor


def is_async(function: Callable[..., Any]) -> bool:
    while hasattr(function, "func"):  # functools.partial
        function = function.func
    return inspect.iscoroutinefunction(function) or inspect.iscoroutinefunction(
        getattr(function, "__call__", None)  # noqa: B004 - an async __call__ counts
    )
