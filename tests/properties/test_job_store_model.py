"""Each job store follows a plain model under random submits (some after= others), claims,
outcomes, cancels, releases and lease expiries (hypothesis stateful testing, through a
blocking portal).

The model is a dict of jobs; the store's clock is a fake one that only the rules move,
so due times and leases are exact. PostgreSQL runs on asyncio and on trio (its
threaded connection); memory and SQLite on asyncio.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import pytest
from anyio.from_thread import start_blocking_portal
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from actorlib.jobs import JobRecord, JobStatus, JobStore
from tests.jobs.stores import FakeClock, Kind, make_kind, record

WAITING = (JobStatus.QUEUED, JobStatus.RETRYING)
LEASE = 10.0


@attrs.define
class Expected:
    """What the model knows of one job."""

    order: int
    priority: int
    key: str | None
    run_at: float
    status: JobStatus = JobStatus.QUEUED
    attempts: int = 0
    owner: str | None = None
    lease_until: float | None = None
    # The prerequisites (after=) that have not succeeded yet: claimable only when empty.
    blockers: set[str] = attrs.Factory(set)


def store_machine(fresh: Callable[[], Kind], backend: str) -> type[RuleBasedStateMachine]:
    class StoreMachine(RuleBasedStateMachine):
        """One store on data of its own for each example, against `Expected` jobs."""

        def __init__(self) -> None:
            super().__init__()
            self.stack = contextlib.ExitStack()
            self.portal = self.stack.enter_context(start_blocking_portal(backend))
            self.clock = FakeClock()
            self.store: JobStore = fresh().store(self.clock)
            self.call(self.store.open, "model")
            self.stack.callback(self.call, self.store.close)
            self.jobs: dict[str, Expected] = {}
            self.records: dict[str, JobRecord] = {}

        def call(self, fn: Any, *args: object) -> Any:
            return self.portal.call(fn, *args)

        def teardown(self) -> None:
            self.stack.close()

        def now(self) -> float:
            return float(self.call(lambda: self.store.now()))

        def kept_with_key(self, key: str) -> str | None:
            for job_id, job in self.jobs.items():
                if job.key == key:
                    return job_id
            return None

        @rule(
            data=st.data(),
            priority=st.integers(0, 2),
            delay=st.sampled_from([0.0, 0.0, 4.0]),
            key=st.sampled_from([None, None, "a", "b"]),
        )
        def submit(self, data: st.DataObject, priority: int, delay: float, key: str | None) -> None:
            ids = sorted(self.jobs)
            after = data.draw(st.lists(st.sampled_from(ids), max_size=2)) if ids else []
            job = record(self.store.now, priority=priority, delay=delay, key=key, attempts=3)
            job.after = tuple(dict.fromkeys(after))
            kept, created = self.call(self.store.add, job)
            taken = self.kept_with_key(key) if key is not None else None
            assert created == (taken is None)
            if taken is not None:
                assert kept.id == taken
                return
            expected = Expected(len(self.jobs), priority, key, job.run_at)
            self.jobs[job.id] = expected
            ended = [self.jobs[p].status for p in job.after]
            if JobStatus.FAILED in ended or JobStatus.CANCELLED in ended:
                expected.status = JobStatus.FAILED
                assert kept.status is JobStatus.FAILED
            else:
                expected.blockers = {
                    p for p in job.after if self.jobs[p].status is not JobStatus.SUCCEEDED
                }

        def ended(self, job_id: str) -> None:
            """Model the store's commit that ended *job_id*: release or fail its dependents."""
            pending = [job_id]
            while pending:
                prerequisite = self.jobs[pending.pop()]
                for dependent_id, job in self.jobs.items():
                    prerequisite_id = next(i for i, j in self.jobs.items() if j is prerequisite)
                    if prerequisite_id not in job.blockers or job.status.final:
                        continue
                    job.blockers.discard(prerequisite_id)
                    if prerequisite.status is not JobStatus.SUCCEEDED:
                        job.status, job.blockers = JobStatus.FAILED, set()
                        pending.append(dependent_id)

        @rule(limit=st.integers(1, 3), owner=st.sampled_from(["A", "B"]))
        def claim(self, limit: int, owner: str) -> None:
            now = self.now()
            due = [
                (-job.priority, job.order, job_id)
                for job_id, job in self.jobs.items()
                if job.status in WAITING and job.run_at <= now and not job.blockers
            ]
            expected = [job_id for _, _, job_id in sorted(due)[:limit]]
            claimed = self.call(self.store.claim, owner, limit, LEASE)
            assert [r.id for r in claimed] == expected
            for claimed_record in claimed:
                job = self.jobs[claimed_record.id]
                job.status, job.owner, job.lease_until = JobStatus.RUNNING, owner, now + LEASE
                job.attempts += 1
                assert claimed_record.attempts == job.attempts
                self.records[claimed_record.id] = claimed_record

        def running(self) -> list[str]:
            return sorted(i for i, job in self.jobs.items() if job.status is JobStatus.RUNNING)

        @precondition(lambda self: self.running())
        @rule(data=st.data(), outcome=st.sampled_from(["succeed", "fail", "retry"]))
        def finish(self, data: st.DataObject, outcome: str) -> None:
            job_id = data.draw(st.sampled_from(self.running()))
            job, now = self.jobs[job_id], self.now()
            changes: dict[str, Any] = {"owner": None, "lease_until": None}
            if outcome == "succeed":
                changes.update(status=JobStatus.SUCCEEDED, result=3, finished_at=now)
            elif outcome == "fail":
                changes.update(status=JobStatus.FAILED, error=ValueError(), finished_at=now)
            else:
                changes.update(status=JobStatus.RETRYING, run_at=now + 3.0, error=ValueError())
                job.run_at = now + 3.0
            self.call(self.store.save, attrs.evolve(self.records[job_id], **changes))
            job.status, job.owner, job.lease_until = changes["status"], None, None
            if job.status.final:
                self.ended(job_id)

        @rule(seconds=st.sampled_from([1.0, 3.0, 5.0]))
        def time_passes(self, seconds: float) -> None:
            self.clock.advance(seconds)

        @rule()
        def leases_expire(self) -> None:
            self.clock.advance(LEASE + 1)
            now = self.now()
            count = self.call(self.store.reclaim_expired)
            if not self.store.durable:
                assert count == 0  # one process: no lease can lapse
                return
            lapsed = [
                job
                for job in self.jobs.values()
                if job.status is JobStatus.RUNNING and (job.lease_until or 0.0) < now
            ]
            assert count == len(lapsed)
            for job in lapsed:
                job.status, job.owner, job.lease_until = JobStatus.QUEUED, None, None
                job.attempts -= 1

        @rule(owner=st.sampled_from(["A", "B"]))
        def release(self, owner: str) -> None:
            count = self.call(self.store.release, owner)
            mine = [
                job
                for job in self.jobs.values()
                if job.status is JobStatus.RUNNING and job.owner == owner
            ]
            assert count == len(mine)
            for job in mine:
                job.status, job.owner, job.lease_until = JobStatus.QUEUED, None, None
                job.attempts -= 1

        @precondition(lambda self: self.jobs)
        @rule(data=st.data())
        def cancel(self, data: st.DataObject) -> None:
            job_id = data.draw(st.sampled_from(sorted(self.jobs)))
            cancelled = self.call(self.store.cancel_waiting, job_id)
            job = self.jobs[job_id]
            assert (cancelled is not None) == (job.status in WAITING)
            if cancelled is not None:
                job.status = JobStatus.CANCELLED
                self.ended(job_id)

        @invariant()
        def the_counts_match(self) -> None:
            counts = self.call(self.store.counts)
            expected = dict.fromkeys(JobStatus, 0)
            for job in self.jobs.values():
                expected[job.status] += 1
            assert counts == expected
            assert self.call(self.store.running) == expected[JobStatus.RUNNING]

        @invariant()
        def next_due_is_the_earliest_waiting_run_time(self) -> None:
            waiting = [
                job.run_at
                for job in self.jobs.values()
                if job.status in WAITING and not job.blockers
            ]
            due = self.call(self.store.next_due)
            assert due == (pytest.approx(min(waiting)) if waiting else None)

    profile = settings.default
    StoreMachine.TestCase.settings = settings(
        # Bounded for CI: every example opens a store (a schema, on PostgreSQL).
        max_examples=min(profile.max_examples if profile else 15, 15),
        stateful_step_count=25,
        deadline=None,
        database=None,
    )
    return StoreMachine


@pytest.mark.parametrize(
    ("name", "backend"),
    [("memory", "asyncio"), ("sqlite", "asyncio"), ("postgres", "asyncio"), ("postgres", "trio")],
)
def test_a_job_store_follows_the_model(
    name: str, backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    kind = make_kind(name, request, tmp_path)

    def fresh() -> Kind:
        if name == "sqlite":
            return attrs.evolve(kind, url=f"sqlite:///{tmp_path / f'{uuid.uuid4().hex}.db'}")
        if name == "postgres":
            database = kind.url.partition("?")[0]
            return attrs.evolve(kind, url=f"{database}?schema=m_{uuid.uuid4().hex[:12]}")
        return kind

    store_machine(fresh, backend).TestCase().runTest()
