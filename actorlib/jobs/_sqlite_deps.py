"""The SQL of job dependencies on SQLite: edges, blockers, release and failure.

Each method runs inside the caller's transaction (the add's, or the one that
ends a job), in the caller's call on the connection; none opens a
transaction or knows what else it commits.
"""

from __future__ import annotations

from collections.abc import Callable

from ._memory import failed_at_add, unknown_prerequisites
from ._model import JobRecord
from ._sqlite_db import Database
from ._sqlite_rows import Live, dependency_failures


class Dependencies:
    """Statements over the jobs table and its edges table.

    Args:
        database: the store's file (its connection only, never its calls).
        now: the store's clock.
        live: the functions of the jobs submitted in this process (a failed
            dependent's entry is dropped).
        select_many: reads the jobs with these ids.
    """

    def __init__(
        self,
        database: Database,
        now: Callable[[], float],
        live: Live,
        select_many: Callable[[list[str]], list[JobRecord]],
    ) -> None:
        self.database = database
        self.now = now
        self.live = live
        self.select_many = select_many

    def block(self, record: JobRecord) -> None:
        """In the add's transaction: count *record*'s unfinished prerequisites, keep the
        edges, or fail it at once if one has failed or was cancelled already."""
        db = self.database.db
        after = tuple(dict.fromkeys(record.after))
        marks = ",".join("?" * len(after))
        found = {
            job_id: (status, name)
            for job_id, status, name in db.execute(
                f"SELECT id, status, name FROM jobs WHERE id IN ({marks})", after
            )
        }
        missing = [job_id for job_id in after if job_id not in found]
        if missing:
            raise unknown_prerequisites(record, missing)
        for job_id, (status, name) in found.items():
            if status in ("failed", "cancelled"):
                self._fail([(record.id, record.name)], f"{name}[{job_id}]", status)
                failed_at_add(record, f"{name}[{job_id}]", status, self.now())
                return
        waiting = [job_id for job_id, (status, _) in found.items() if status != "succeeded"]
        db.executemany(
            "INSERT OR IGNORE INTO dependencies (prerequisite, dependent) VALUES (?, ?)",
            [(job_id, record.id) for job_id in waiting],
        )
        db.execute("UPDATE jobs SET blockers = ? WHERE id = ?", (len(waiting), record.id))
        record.blockers = len(waiting)

    def settle(self, ended: list[str]) -> list[JobRecord]:
        """In the transaction that ended these jobs: release the dependents of the ones
        that succeeded, fail those of the others (and theirs, transitively)."""
        db = self.database.db
        failed: list[str] = []
        pending = list(ended)
        while pending:
            job_id = pending.pop()
            row = db.execute("SELECT status, name FROM jobs WHERE id = ?", (job_id,)).fetchone()
            dependents = [
                (dependent, name)
                for dependent, name in db.execute(
                    "SELECT d.dependent, j.name FROM dependencies d JOIN jobs j "
                    "ON j.id = d.dependent WHERE d.prerequisite = ? "
                    "AND j.status NOT IN ('succeeded', 'failed', 'cancelled')",
                    (job_id,),
                )
            ]
            db.execute("DELETE FROM dependencies WHERE prerequisite = ?", (job_id,))
            if row is None or not dependents:
                continue
            status, name = row
            if status == "succeeded":
                db.executemany(
                    "UPDATE jobs SET blockers = blockers - 1 WHERE id = ?",
                    [(dependent,) for dependent, _ in dependents],
                )
            else:
                self._fail(dependents, f"{name}[{job_id}]", status)
                failed += [dependent for dependent, _ in dependents]
                pending += [dependent for dependent, _ in dependents]
        return self.select_many(failed)

    def _fail(self, dependents: list[tuple[str, str]], prerequisite: str, status: str) -> None:
        rows = dependency_failures(dependents, prerequisite, status, self.now(), self.live)
        self.database.db.executemany(
            "UPDATE jobs SET status = 'failed', error = ?, finished_at = ?, blockers = 0 "
            "WHERE id = ? AND status NOT IN ('succeeded', 'failed', 'cancelled')",
            rows,
        )
