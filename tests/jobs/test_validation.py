"""Bad input to JobQueue, submit and Retry: a specific error naming the offender; nothing queued."""

from __future__ import annotations

import datetime

import pytest

from actorlib import ActorSystem, Backoff
from actorlib.jobs import JobQueue, JobQueueClosedError, Retry
from tests.jobs import tasks

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"retry": 3}, TypeError, r"retry must be a Retry\(attempts, backoff\), got 3"),
        ({"timeout": 0}, ValueError, r"timeout must be a number > 0, got 0"),
        ({"timeout": -1.5}, ValueError, r"timeout must be a number > 0, got -1.5"),
        ({"timeout": "5"}, TypeError, r"timeout must be a number of seconds or None, got '5'"),
        ({"priority": 1.5}, TypeError, r"priority must be an int \(higher runs first\), got 1.5"),
        ({"priority": True}, TypeError, r"priority must be an int"),
        ({"priority": 2**70}, ValueError, r"priority must be within"),
        ({"delay": -1}, ValueError, r"delay must be a number >= 0, got -1"),
        ({"delay": float("inf")}, ValueError, r"delay must be finite"),
        ({"delay": 1, "at": datetime.datetime.now(datetime.UTC)}, ValueError, r"not both"),
        ({"at": datetime.datetime(2030, 1, 1)}, ValueError, r"at must be timezone-aware"),
        ({"at": "tomorrow"}, TypeError, r"at must be a datetime, got 'tomorrow'"),
        ({"key": ""}, ValueError, r"key must be a non-empty str or None, got ''"),
        ({"key": 7}, ValueError, r"key must be a non-empty str or None, got 7"),
        ({"executor": "gpu"}, ValueError, r"executor must be one of 'async', 'thread', 'process'"),
    ],
)
async def test_invalid_submit_options_raise_and_queue_nothing(
    options: dict[str, object], error: type[Exception], match: str
) -> None:
    async with ActorSystem("jobs") as system, JobQueue(system) as queue:
        with pytest.raises(error, match=match):
            await queue.submit(tasks.add, 1, 2, **options)  # type: ignore[call-overload]
        stats = await queue.counts()
        assert (stats.queued, stats.running, stats.succeeded) == (0, 0, 0)


async def test_a_non_callable_job_is_refused() -> None:
    async with ActorSystem("jobs") as system, JobQueue(system) as queue:
        with pytest.raises(TypeError, match=r"submit\(\) expects a callable job function, got 42"):
            await queue.submit(42)  # type: ignore[call-overload]


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"workers": -1}, ValueError, r"workers must be at least 0 \(0: a producer .*got -1"),
        (
            {"workers": 0},
            ValueError,
            r"workers=0 with the memory store: nothing could ever run its jobs .* pass "
            r"workers >= 1, or a durable store",
        ),
        ({"workers": "4"}, TypeError, r"workers must be an int, got '4'"),
        ({"rate_limit": 0}, ValueError, r"rate_limit must be a finite number of jobs per second"),
        ({"rate_limit": "fast"}, TypeError, r"rate_limit must be jobs per second"),
        ({"keep_results": -1}, ValueError, r"keep_results must be a number >= 0"),
        ({"lease": 1, "poll_interval": 1}, ValueError, r"lease must be at least twice"),
        ({"poll_interval": 0}, ValueError, r"poll_interval must be a number > 0"),
        ({"default_retry": 3}, TypeError, r"default_retry must be a Retry or None, got 3"),
        ({"default_timeout": 0}, ValueError, r"default_timeout must be a number > 0"),
        ({"name": "a/b"}, ValueError, r"queue name"),
    ],
)
def test_invalid_queue_options_raise_at_construction(
    options: dict[str, object], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        JobQueue(ActorSystem("jobs"), **options)  # type: ignore[arg-type]


def test_the_queue_needs_an_actor_system() -> None:
    with pytest.raises(TypeError, match=r"JobQueue\(\) expects an ActorSystem, got 'system'"):
        JobQueue("system")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"attempts": 0}, ValueError, r"Retry attempts must be >= 1 \(1 means no retry\), got 0"),
        ({"attempts": 2.0}, TypeError, r"Retry attempts must be an int, got 2.0"),
        ({"backoff": 1.0}, TypeError, r"Retry backoff must be an actorlib.Backoff, got 1.0"),
        ({"retry_on": OSError}, TypeError, r"retry_on must be a tuple of exception classes"),
        ({"retry_on": (int,)}, TypeError, r"retry_on must be a tuple of exception classes"),
    ],
)
def test_invalid_retry_policies_are_refused(
    kwargs: dict[str, object], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        Retry(**kwargs)  # type: ignore[arg-type]


def test_retry_defaults_to_one_attempt_with_a_growing_backoff() -> None:
    retry = Retry(3, Backoff(min=1.0, max=10.0))
    assert retry.should_retry(OSError(), 1)
    assert retry.should_retry(OSError(), 2)
    assert not retry.should_retry(OSError(), 3)
    assert not retry.should_retry(KeyboardInterrupt(), 1)
    assert not Retry().should_retry(OSError(), 1)


async def test_a_queue_that_was_never_started_refuses_work() -> None:
    async with ActorSystem("jobs") as system:
        queue = JobQueue(system)
        with pytest.raises(JobQueueClosedError, match=r"cannot submit a job: the job queue"):
            await queue.submit(tasks.add, 1, 2)
        await queue.close()  # closing an unstarted queue is harmless


async def test_a_queue_starts_once() -> None:
    async with ActorSystem("jobs") as system:
        queue = await JobQueue.start(system)
        with pytest.raises(RuntimeError, match=r"was already started; a queue starts once"):
            await queue.__aenter__()
        await queue.close()
        await queue.close()  # idempotent
