"""What the dashboard shows of job queues and stores, and its two actions: retry and cancel.

A source is a queue open on the system (`actorlib.jobs.open_queues`) or a
store the dashboard opened itself (``--store``). Reads go to the store;
actions go through the queue when there is one (its handles and events
follow), else to the store, where the workers of other processes see them.
"""

from __future__ import annotations

import traceback

import anyio
import attrs

from ..jobs import JobInfo, JobQueue, JobRecord, JobStatus, JobStore

#: Rows of each list the page gets.
LISTED = 20
#: Characters of a traceback the page gets (the end is kept: the raise is there).
TRACEBACK_CHARS = 8000
#: How long a cancel through a queue may wait (it waits for the job to end).
CANCEL_WAIT = 5.0


@attrs.define(eq=False)
class JobSource:
    """One queue or store the dashboard shows, under a key that stays the same."""

    key: str
    name: str
    store: JobStore
    queue: JobQueue | None = None
    finished: int | None = None  # final jobs at the last tick
    jobs_per_second: float = 0.0

    async def tick(self, elapsed: float) -> None:
        """Work out jobs finished per second since the last tick."""
        counts = await self.store.counts()
        finished = sum(counts[s] for s in JobStatus if s.final)
        if self.finished is not None and elapsed > 0:
            self.jobs_per_second = max(0, finished - self.finished) / elapsed
        self.finished = finished

    async def snapshot(self) -> dict[str, object]:
        """Counts by status, the running jobs, some waiting ones, the latest failures."""
        store = self.store
        counts = await store.counts()
        waiting_ids = (await store.waiting())[:LISTED]
        waiting = sorted(await store.get_many(waiting_ids), key=lambda r: r.created_at)
        return {
            "key": self.key,
            "name": self.name,
            "store": store.url,
            "attached": self.queue is not None,
            "counts": {status.value: counts[status] for status in JobStatus},
            "jobs_per_second": round(self.jobs_per_second, 2),
            "running": [job_json(r.info()) for r in await store.running_jobs(LISTED)],
            "waiting": [job_json(r.info()) for r in waiting],
            "failed": [job_json(r.info(), tracebacks=True) for r in await store.failed(LISTED)],
        }

    async def retry(self, job_id: str) -> bool:
        """Queue a failed job again; False if it is not failed."""
        if self.queue is not None:
            return await self.queue.retry(job_id)
        return await self.store.retry_failed(job_id) is not None

    async def cancel(self, job_id: str) -> bool:
        """Cancel a waiting job; False if it is not waiting."""
        record: JobRecord | None = await self.store.get(job_id)
        if record is None or record.status not in (JobStatus.QUEUED, JobStatus.RETRYING):
            return False
        if self.queue is None:
            return await self.store.cancel_waiting(job_id) is not None
        with anyio.move_on_after(CANCEL_WAIT):
            return await self.queue.cancel(job_id)
        return False  # it started meanwhile and is still running


def job_json(info: JobInfo, *, tracebacks: bool = False) -> dict[str, object]:
    """One job as the page shows it (text is escaped by the page, not here)."""
    progress = info.progress
    shown: dict[str, object] = {
        "id": info.id,
        "name": info.name,
        "status": info.status.value,
        "priority": info.priority,
        "attempts": info.attempts,
        "max_attempts": info.max_attempts,
        "progress": None
        if progress is None
        else {
            "done": progress.done,
            "total": progress.total,
            "fraction": progress.fraction,
            "note": progress.note,
        },
        "created_at": info.created_at,
        "started_at": info.started_at,
        "finished_at": info.finished_at,
    }
    if info.error is not None:
        shown["error"] = f"{type(info.error).__name__}: {info.error}"[:500]
        if tracebacks:
            text = "".join(traceback.format_exception(info.error))
            shown["traceback"] = text[-TRACEBACK_CHARS:]
    return shown
