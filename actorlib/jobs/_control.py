"""Jobs already submitted, through a queue's core: cancel, join, count, retry; knows no facade."""

from __future__ import annotations

from ._core import QueueCore
from ._errors import JobQueueClosedError
from ._events import JobCancelled, JobFailed, JobQueued
from ._model import JobStatus
from ._statistics import JobCounts


async def cancel(core: QueueCore, job_id: str) -> bool:
    """What `JobQueue.cancel` does: cancel a job by id and wait until it has ended.

    Returns:
        True if the job ended cancelled.
    """
    record = await core.store.cancel_waiting(job_id)
    if record is not None:
        core.committed(record)
        core.publish(JobCancelled(core.name, record.id, record.name))
        await _refresh_followed(core)  # its dependents failed in the same commit
        core.kick()  # the scheduler keeps the ended job for keep_results, then purges it
        return True
    state = core.states.get(job_id)
    attempt = core.attempts.get(job_id)
    if attempt is not None:
        attempt.cancel()
        if state is None:
            state = core.state_of(attempt.record)
    if state is None:
        return False  # not known here as waiting or running: it has ended (or is elsewhere)
    with core.time_may_pass():
        await state.wait()
    return state.info.status is JobStatus.CANCELLED


async def _refresh_followed(core: QueueCore) -> None:
    """Show handles the state of the waiting jobs they follow, as the store has it."""
    waiting = [i for i, s in core.states.items() if s.info.status is JobStatus.QUEUED]
    for record in await core.store.get_many(waiting) if waiting else []:
        if record.status is not JobStatus.QUEUED:
            core.committed(record)
            if record.status is JobStatus.FAILED and record.error is not None:
                core.publish(JobFailed(core.name, record.id, record.name, record.error))


async def join(core: QueueCore) -> None:
    """What `JobQueue.join` does: wait until no job waits or runs.

    Raises:
        JobQueueClosedError: the system stopped the queue's actors meanwhile.
    """
    with core.time_may_pass():
        while not core.idle:
            if core.stopped:
                raise JobQueueClosedError(operation="join the queue (its actors were stopped)")
            await core.wait_changed()


async def counts(core: QueueCore) -> JobCounts:
    """What `JobQueue.counts` does: how many jobs of the store are in each status."""
    counts = await core.store.counts()
    return JobCounts(
        queued=counts[JobStatus.QUEUED],
        running=counts[JobStatus.RUNNING],
        retrying=counts[JobStatus.RETRYING],
        succeeded=counts[JobStatus.SUCCEEDED],
        failed=counts[JobStatus.FAILED],
        cancelled=counts[JobStatus.CANCELLED],
    )


async def retry(core: QueueCore, job_id: str) -> bool:
    """What `JobQueue.retry` does: queue a dead-letter job again, due now.

    Returns:
        True if the job was failed and is queued again; False otherwise.
    """
    record = await core.store.retry_failed(job_id)
    if record is None:
        return False
    core.publish(JobQueued(core.name, record.id, record.name))
    core.kick()
    return True
