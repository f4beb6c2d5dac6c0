"""The in-memory job store: two heaps and a dict; fast, and gone with the process."""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable

from ._errors import JobDependencyError
from ._model import WAITING, JobRecord, JobStatus


class MemoryStore:
    """Jobs in this process only. Times are the system's Clock, so a virtual
    clock drives delays and retries in tests.

    Two heaps hold waiting jobs: *ready* by (priority, order) and *delayed* by
    due time; a third, *finished*, holds final jobs by the time they ended, so
    that a purge deletes the expired ones without looking at the others.
    Entries are never removed in place: a popped entry whose job is no longer
    waiting, or not yet due, is stale and skipped.
    """

    durable = False

    def __init__(self, clock_now: Callable[[], float], url: str = "memory") -> None:
        self.url = url
        self.now = clock_now
        self._jobs: dict[str, JobRecord] = {}
        self._keys: dict[str, str] = {}
        self._ready: list[tuple[int, int, str]] = []
        self._delayed: list[tuple[float, int, str]] = []
        self._finished: list[tuple[float, int, str]] = []
        self._order = itertools.count(1)
        # Prerequisite id -> the ids of the blocked jobs waiting for it.
        self._dependents: dict[str, list[str]] = {}

    async def open(self, owner: str) -> None:
        pass

    async def close(self) -> None:
        pass

    async def add(self, record: JobRecord) -> tuple[JobRecord, bool]:
        (added,) = await self.add_many([record])
        return added

    async def add_many(self, records: list[JobRecord]) -> list[tuple[JobRecord, bool]]:
        batch = {record.id for record in records}
        for record in records:  # all or none: check before adding any
            missing = [i for i in record.after if i not in self._jobs and i not in batch]
            if missing:
                raise unknown_prerequisites(record, missing)
        return [self._add(record) for record in records]

    def _add(self, record: JobRecord) -> tuple[JobRecord, bool]:
        if record.key is not None:
            kept = self._keys.get(record.key)
            if kept is not None:
                return self._jobs[kept], False
            self._keys[record.key] = record.id
        record.seq = next(self._order)
        self._jobs[record.id] = record
        record.blockers = 0
        for prerequisite in map(self._jobs.__getitem__, record.after):
            if prerequisite.status in (JobStatus.FAILED, JobStatus.CANCELLED):
                self._fail_dependent(record, prerequisite)
                return record, True
            if prerequisite.status is not JobStatus.SUCCEEDED:
                record.blockers += 1
                self._dependents.setdefault(prerequisite.id, []).append(record.id)
        if not record.blockers:
            self._push(record)
        return record, True

    def _fail_dependent(self, record: JobRecord, prerequisite: JobRecord) -> None:
        failed_at_add(record, prerequisite.label, prerequisite.status.value, self.now())
        self._ended(record)

    def _settle(self, ended: JobRecord) -> list[JobRecord]:
        """Release or fail the jobs waiting for *ended*; return the ones it failed."""
        failed: list[JobRecord] = []
        pending = [ended]
        while pending:
            prerequisite = pending.pop()
            for job_id in self._dependents.pop(prerequisite.id, []):
                record = self._jobs.get(job_id)
                if record is None or record.status.final:
                    continue
                if prerequisite.status is JobStatus.SUCCEEDED:
                    record.blockers -= 1
                    if not record.blockers:
                        self._push(record)
                else:
                    self._fail_dependent(record, prerequisite)
                    failed.append(record)
                    pending.append(record)
        return failed

    def _push(self, record: JobRecord) -> None:
        if record.run_at <= self.now():
            heapq.heappush(self._ready, (-record.priority, record.seq, record.id))
        else:
            heapq.heappush(self._delayed, (record.run_at, record.seq, record.id))

    async def claim(self, owner: str, limit: int, lease: float) -> list[JobRecord]:
        now = self.now()
        while self._delayed and self._delayed[0][0] <= now:
            _, seq, job_id = heapq.heappop(self._delayed)
            record = self._jobs.get(job_id)
            if record is not None and record.status in WAITING:
                heapq.heappush(self._ready, (-record.priority, seq, job_id))
        claimed: list[JobRecord] = []
        while self._ready and len(claimed) < limit:
            job_id = heapq.heappop(self._ready)[2]
            record = self._jobs.get(job_id)
            if (
                record is None
                or record.status not in WAITING
                or record.run_at > now
                or record.blockers
            ):
                continue  # stale: claimed, cancelled, purged or re-delayed since
            record.status = JobStatus.RUNNING
            record.attempts += 1
            record.started_at = now
            record.owner = owner
            claimed.append(record)
        return claimed

    async def save(self, record: JobRecord) -> None:
        await self.save_many([record])

    def _save(self, record: JobRecord) -> list[JobRecord]:
        kept = self._jobs.get(record.id)
        if kept is not None and kept.status.final:
            return []  # never overwrite a final state, as the durable stores promise
        self._jobs[record.id] = record
        if record.status in WAITING:
            self._push(record)
        elif record.status.final:
            self._ended(record)
            return self._settle(record)
        return []

    def _ended(self, record: JobRecord) -> None:
        assert record.finished_at is not None
        heapq.heappush(self._finished, (record.finished_at, record.seq, record.id))

    async def save_many(self, records: list[JobRecord]) -> list[JobRecord]:
        return [failed for record in records for failed in self._save(record)]

    async def cancel_waiting(self, job_id: str) -> JobRecord | None:
        record = self._jobs.get(job_id)
        if record is None or record.status not in WAITING:
            return None
        record.status = JobStatus.CANCELLED
        record.finished_at = self.now()
        self._ended(record)
        self._settle(record)
        return record

    async def get(self, job_id: str) -> JobRecord | None:
        return self._jobs.get(job_id)

    async def get_many(self, job_ids: list[str]) -> list[JobRecord]:
        return [self._jobs[i] for i in job_ids if i in self._jobs]

    async def next_due(self) -> float | None:
        now = self.now()
        while self._ready:
            record = self._jobs.get(self._ready[0][2])
            if (
                record is not None
                and record.status in WAITING
                and record.run_at <= now
                and not record.blockers
            ):
                return record.run_at
            heapq.heappop(self._ready)  # stale (a re-delayed job has a delayed entry)
        while self._delayed:
            record = self._jobs.get(self._delayed[0][2])
            if record is not None and record.status in WAITING and not record.blockers:
                return record.run_at
            heapq.heappop(self._delayed)
        return None

    async def counts(self) -> dict[JobStatus, int]:
        counts = dict.fromkeys(JobStatus, 0)
        for record in self._jobs.values():
            counts[record.status] += 1
        return counts

    async def running(self) -> int:
        return sum(1 for r in self._jobs.values() if r.status is JobStatus.RUNNING)

    async def failed(self, limit: int) -> list[JobRecord]:
        failed = [r for r in self._jobs.values() if r.status is JobStatus.FAILED]
        failed.sort(key=lambda r: r.finished_at or 0.0, reverse=True)
        return failed[:limit]

    async def running_jobs(self, limit: int) -> list[JobRecord]:
        running = [r for r in self._jobs.values() if r.status is JobStatus.RUNNING]
        running.sort(key=lambda r: r.started_at or 0.0)
        return running[:limit]

    async def retry_failed(self, job_id: str) -> JobRecord | None:
        record = self._jobs.get(job_id)
        if record is None or record.status is not JobStatus.FAILED:
            return None
        record.status = JobStatus.QUEUED
        record.attempts = 0
        record.error = record.progress = None
        record.started_at = record.finished_at = None
        record.run_at = self.now()
        self._push(record)
        return record

    async def renew(self, owner: str, job_ids: list[str], lease: float) -> None:
        pass  # one process: no one else could take its jobs

    async def release(self, owner: str) -> int:
        running = [
            r for r in self._jobs.values() if r.status is JobStatus.RUNNING and r.owner == owner
        ]
        for record in running:
            record.status = JobStatus.QUEUED
            record.attempts -= 1
            record.owner = None
            self._push(record)
        return len(running)

    async def waiting(self) -> list[str]:
        return [r.id for r in self._jobs.values() if r.status in WAITING]

    async def reclaim_expired(self) -> int:
        return 0

    async def purge(self, older_than: float) -> int:
        """Delete the final jobs that ended *older_than* seconds ago or earlier."""
        horizon = self.now() - older_than
        purged = 0
        while self._finished and self._finished[0][0] <= horizon:
            _, _, job_id = heapq.heappop(self._finished)
            record = self._jobs.get(job_id)
            if record is None or not record.status.final:
                continue  # stale
            del self._jobs[job_id]
            if record.key is not None and self._keys.get(record.key) == job_id:
                del self._keys[record.key]
            purged += 1
        return purged

    def next_expiry(self, older_than: float) -> float | None:
        """When `purge` (*older_than*) will next have a job to delete; None: no final job."""
        while self._finished:
            finished_at, _, job_id = self._finished[0]
            if job_id in self._jobs:
                return finished_at + older_than
            heapq.heappop(self._finished)  # stale: purged already
        return None


def unknown_prerequisites(record: JobRecord, missing: list[str]) -> ValueError:
    """The error of a submit whose after= names jobs the store does not keep."""
    return ValueError(
        f"after= of job {record.label} names jobs the store does not keep: "
        f"{', '.join(missing)}; pass handles or ids of jobs submitted to this store "
        f"(a finished job is kept for the queue's keep_results)"
    )


def failed_at_add(record: JobRecord, prerequisite: str, status: str, now: float) -> None:
    """Mark *record* failed because its prerequisite ended *status* (as its store did)."""
    record.status = JobStatus.FAILED
    record.blockers = 0
    record.finished_at = now
    record.error = JobDependencyError(job=record.label, prerequisite=prerequisite, status=status)
