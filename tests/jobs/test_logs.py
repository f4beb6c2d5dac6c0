"""Job logs on the ``actorlib.jobs`` logger: what each level says, and that values stay short."""

from __future__ import annotations

import logging

import pytest

from actorlib import ActorSystem, Backoff
from actorlib.jobs import JobQueue, Retry
from actorlib.testing import VirtualClock
from tests.jobs import tasks

pytestmark = pytest.mark.anyio


def job_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.name == "actorlib.jobs"]


async def test_failed_attempts_log_warnings_and_the_final_failure_an_error_with_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="actorlib.jobs")
    clock = VirtualClock()
    async with ActorSystem("jobs", clock=clock) as system, JobQueue(system) as queue:
        retry = Retry(3, Backoff(min=1.0, max=1.0, jitter=0.0))
        handle = await queue.submit(tasks.fail, "bad row", retry=retry)
        await clock.advance(2)
        with pytest.raises(ValueError, match="bad row"):
            await handle.result()
    label = f"tests.jobs.tasks.fail[{handle.id}]"
    levels = [(r.levelno, r.getMessage()) for r in job_records(caplog)]
    assert [level for level, _ in levels] == [
        logging.DEBUG,
        logging.WARNING,
        logging.DEBUG,
        logging.WARNING,
        logging.DEBUG,
        logging.ERROR,
    ]
    assert levels[0][1] == f"job {label}('bad row') started, attempt 1 of 3 (queue 'jobs')"
    assert levels[1][1] == (
        f"job {label} attempt 1 of 3 failed, retrying in 1 s: ValueError: bad row (queue 'jobs')"
    )
    assert levels[5][1] == (
        f"job {label}('bad row') failed for good on attempt 3 of 3: ValueError: bad row "
        f"(queue 'jobs')"
    )
    error = job_records(caplog)[-1]
    assert error.exc_info is not None
    assert error.exc_info[0] is ValueError
    assert "in fail" in caplog.text  # the traceback, down to the job function
    assert all(r.exc_info is None for r in job_records(caplog)[:-1])


async def test_a_success_is_logged_at_debug_only(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="actorlib.jobs")
    async with ActorSystem("jobs") as system, JobQueue(system) as queue:
        handle = await queue.submit(tasks.add, 2, b=3)
        assert await handle.result() == 5
    messages = [(r.levelno, r.getMessage()) for r in job_records(caplog)]
    label = f"tests.jobs.tasks.add[{handle.id}]"
    assert messages == [
        (logging.DEBUG, f"job {label}(2, b=3) started, attempt 1 of 1 (queue 'jobs')"),
        (logging.DEBUG, f"job {label} succeeded on attempt 1 (queue 'jobs')"),
    ]


async def test_argument_values_and_error_messages_are_cut_short_in_logs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="actorlib.jobs")
    secret_sized = "x" * 100_000
    async with ActorSystem("jobs") as system, JobQueue(system) as queue:
        handle = await queue.submit(tasks.fail, secret_sized)
        with pytest.raises(ValueError):
            await handle.result()
    for record in job_records(caplog):
        assert len(record.getMessage()) < 600, record.getMessage()[:200]
        assert "..." in record.getMessage()
