"""The SQL of job dependencies on PostgreSQL: edges, blockers, release and failure.

Each method is a plan run inside the caller's transaction (the add's, or the
one that ends a job); none knows how it is run or what else it commits.
"""

from __future__ import annotations

import collections
from collections.abc import Callable

from ._memory import failed_at_add, unknown_prerequisites
from ._model import JobRecord
from ._postgres_link import Plan, Row, Statement
from ._postgres_listen import RELEASED
from ._postgres_sql import FINAL_SQL, notify
from ._sqlite_rows import Live, dependency_failures

#: The SQLSTATE of a row lock that `Dependencies.block` did not get (lock_not_available).
LOCK_BUSY = "55P03"


class Dependencies:
    """Plans over the jobs table and its edges table.

    Args:
        table: the jobs table (quoted, with its schema).
        deps: the edges table (quoted, with its schema).
        channel: the new-jobs channel, notified when a job is released.
        now: the store's clock.
        live: the functions of the jobs submitted in this process (a failed
            dependent's entry is dropped).
        select: a statement reading the rows matching a WHERE clause.
    """

    def __init__(
        self,
        table: str,
        deps: str,
        channel: str,
        now: Callable[[], float],
        live: Live,
        select: Callable[[str, tuple[object, ...]], Statement],
    ) -> None:
        self.table = table
        self.deps = deps
        self.channel = channel
        self.now = now
        self.live = live
        self.select = select

    def block(self, record: JobRecord) -> Plan[None]:
        """In the add's transaction: count *record*'s unfinished prerequisites, keep the
        edges, or fail it at once if one has failed or was cancelled already.

        The row locks never wait: a concurrent commit that ends a
        prerequisite (its UPDATE locks the row), or that releases one (a
        save locks the job it ends, then its dependents, in no order of
        ids), makes the lock fail at once (``LockNotAvailable``), and the
        caller runs the whole add again (`LOCK_BUSY`), which then reads the
        committed row. An add that waited for one prerequisite while holding
        another could close a cycle with such a save (a deadlock, measured).
        A save that comes second waits for this commit and then sees the new
        edges and the prerequisite's raised ``dependents`` (so it settles
        them).
        """
        after = list(dict.fromkeys(record.after))
        rows = yield Statement(
            f"SELECT id, status, name FROM {self.table} WHERE id = ANY(%s) "
            f"ORDER BY id FOR NO KEY UPDATE NOWAIT",
            (after,),
        )
        found = {str(job_id): (str(status), str(name)) for job_id, status, name in rows}
        missing = [job_id for job_id in after if job_id not in found]
        if missing:
            raise unknown_prerequisites(record, missing)
        for job_id, (status, name) in found.items():
            if status in ("failed", "cancelled"):
                yield from self._fail([(record.id, record.name)], f"{name}[{job_id}]", status)
                failed_at_add(record, f"{name}[{job_id}]", status, self.now())
                return
        waiting = [job_id for job_id, (status, _) in found.items() if status != "succeeded"]
        if waiting:
            yield Statement(
                f"INSERT INTO {self.deps} (prerequisite, dependent) VALUES (%s, %s) "
                f"ON CONFLICT DO NOTHING",
                many=[(job_id, record.id) for job_id in waiting],
            )
            yield Statement(
                f"UPDATE {self.table} SET dependents = dependents + 1 WHERE id = ANY(%s)",
                (waiting,),
            )
            yield Statement(
                f"UPDATE {self.table} SET blockers = %s WHERE id = %s", (len(waiting), record.id)
            )
        record.blockers = len(waiting)

    def settle(self, ended: list[str]) -> Plan[list[Row]]:
        """In the transaction that ended these jobs: release the dependents of the ones
        that succeeded, fail those of the others (and theirs, transitively).

        One statement per generation of ended jobs (for most batches one in
        all: most jobs have no dependents), not one per job.
        """
        failed: list[str] = []
        released = False
        pending = list(ended)
        while pending:
            rows = yield Statement(
                f"WITH gone AS (DELETE FROM {self.deps} WHERE prerequisite = ANY(%s) "
                f"RETURNING prerequisite, dependent) "
                f"SELECT p.id, p.status, p.name, j.id, j.name FROM gone "
                f"JOIN {self.table} j ON j.id = gone.dependent "
                f"JOIN {self.table} p ON p.id = gone.prerequisite WHERE NOT j.{FINAL_SQL}",
                (pending,),
            )
            pending = []
            # A job waiting for two that both succeeded here is released twice.
            releases = collections.Counter(
                str(dependent) for _, status, _, dependent, _ in rows if status == "succeeded"
            )
            if releases:
                yield Statement(
                    f"UPDATE {self.table} SET blockers = blockers - %s WHERE id = %s",
                    many=[(count, dependent) for dependent, count in releases.items()],
                )
                released = True
            doomed: dict[tuple[str, str, str], list[tuple[str, str]]] = {}
            for job_id, status, name, dependent, dependent_name in rows:
                if status != "succeeded":
                    dependents = doomed.setdefault((str(job_id), str(name), str(status)), [])
                    dependents.append((str(dependent), str(dependent_name)))
            for (job_id, name, status), dependents in doomed.items():
                yield from self._fail(dependents, f"{name}[{job_id}]", status)
                new = [dependent for dependent, _ in dependents if dependent not in failed]
                failed += new
                pending += new
        if released:
            # Heard by every queue that runs jobs, this process's own included.
            yield notify(self.channel, RELEASED)
        if not failed:
            return []
        found = yield self.select("id = ANY(%s)", (failed,))
        return found

    def _fail(
        self, dependents: list[tuple[str, str]], prerequisite: str, status: str
    ) -> Plan[None]:
        rows = dependency_failures(dependents, prerequisite, status, self.now(), self.live)
        yield Statement(
            f"UPDATE {self.table} SET status = 'failed', error = %s, finished_at = %s, "
            f"blockers = 0 WHERE id = %s AND NOT {FINAL_SQL}",
            many=rows,
        )
