"""The SQLite job store: durable, embedded, shared by the processes that open one file.

The file, its connection and how calls run on it are `_sqlite_db`'s; the
bookkeeping of jobs submitted with ``after=`` is `_sqlite_deps`'s. This module
holds the `JobStore` methods and the statements that carry them out.
"""

from __future__ import annotations

import sqlite3
import time

from ._model import JobRecord, JobStatus, Progress
from ._sqlite_db import Database
from ._sqlite_deps import Dependencies
from ._sqlite_rows import (
    COLUMNS,
    READY_SQL,
    RETRY_FAILED_SQL,
    WAITING_SQL,
    Live,
    Load,
    Memo,
    encode_progress,
    insert_row,
    record_of,
    state_row,
)


class SqliteStore:
    """Jobs in one SQLite file (WAL mode), safe to share between processes.

    Every state change is committed before the method returns. Times are
    wall-clock seconds (``time.time``): a durable job's run time and lease
    must mean the same thing to the next process, which a monotonic clock
    cannot promise. Running jobs hold a lease; when the queue opens the
    store and no other process has it open (an advisory file lock), jobs
    left running by a dead process are re-queued at once; otherwise they
    wait for their lease to expire.
    """

    durable = True

    def __init__(self, path: str, *, read_only: bool = False) -> None:
        self.path = path
        self.read_only = read_only
        self.url = f"sqlite:///{path}"
        self._database = Database(path)
        # The live function and arguments of the jobs submitted in this process,
        # until they end: run as submitted (same objects, same module state),
        # decoded from the file only after a restart or in another process.
        self._live: Live = {}
        self._memo = Memo()
        self._dependencies = Dependencies(self._database, self.now, self._live, self._select_many)

    def now(self) -> float:
        return time.time()

    @property
    def db(self) -> sqlite3.Connection:
        """The open connection (see `Database.db`)."""
        return self._database.db

    # ------------------------------------------------------------ open/close

    async def open(self, owner: str) -> None:
        await self._database.call(self._open)
        if not self.read_only:
            await self._database.call(self._database.go_inline)

    def _open(self) -> None:
        if self.read_only:
            self._database.open_read_only()
        elif self._database.open_read_write():
            # Nobody else has the store open: whatever is marked running was
            # left by a process that died. Run it again at once.
            self._requeue_running("1", ())
        else:
            self._reclaim_expired()

    async def close(self) -> None:
        await self._database.close()

    # ------------------------------------------------------------ jobs

    async def add(self, record: JobRecord) -> tuple[JobRecord, bool]:
        (added,) = await self.add_many([record])
        return added

    async def add_many(self, records: list[JobRecord]) -> list[tuple[JobRecord, bool]]:
        # Encode here, in the caller's task: a pickling error is the caller's.
        rows = [insert_row(record, self._memo) for record in records]
        return await self._database.call(self._add, records, rows)

    def _add(
        self, records: list[JobRecord], rows: list[tuple[object, ...]]
    ) -> list[tuple[JobRecord, bool]]:
        if len(records) == 1 and records[0].key is None and not records[0].after:
            return [self._add_one(records[0], rows[0])]
        added: list[tuple[JobRecord, bool]] = []
        with self._database.transaction():
            for record, row in zip(records, rows, strict=True):
                cursor = self._database.db.execute(
                    "INSERT INTO jobs (id, key, name, function, arguments, executor, priority, "
                    "timeout, retry, status, run_at, created_at, trace) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO NOTHING",
                    row,
                )
                if cursor.rowcount == 1:
                    record.seq = cursor.lastrowid or 0
                    if record.after:
                        self._dependencies.block(record)
                    added.append((record, True))
                else:
                    kept = self._select_one("key = ?", (record.key,), load=False)
                    assert kept is not None  # the conflict was on this key, in this transaction
                    added.append((kept, False))
        # Committed: from now on these jobs run as submitted, in this process.
        for record, created in added:
            if created:
                self._live[record.id] = (record.function, record.args, record.kwargs)
        return added

    def _add_one(self, record: JobRecord, row: tuple[object, ...]) -> tuple[JobRecord, bool]:
        """One job without a key: one INSERT, its own transaction (no BEGIN/COMMIT trips)."""
        cursor = self._database.db.execute(
            "INSERT INTO jobs (id, key, name, function, arguments, executor, priority, "
            "timeout, retry, status, run_at, created_at, trace) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            row,
        )
        record.seq = cursor.lastrowid or 0
        self._live[record.id] = (record.function, record.args, record.kwargs)
        return record, True

    async def claim(self, owner: str, limit: int, lease: float) -> list[JobRecord]:
        return await self._database.call(self._claim, owner, limit, lease)

    def _claim(self, owner: str, limit: int, lease: float) -> list[JobRecord]:
        now = self.now()
        # One statement is one transaction, and a write statement takes the write
        # lock before it reads: two processes never claim the same job.
        rows = self._database.db.execute(
            f"UPDATE jobs SET status = 'running', attempts = attempts + 1, started_at = ?, "
            f"owner = ?, lease_until = ? WHERE seq IN (SELECT seq FROM jobs WHERE {READY_SQL} "
            f"AND run_at <= ? ORDER BY priority DESC, seq LIMIT ?) RETURNING {COLUMNS}",
            (now, owner, now + lease, now, limit),
        ).fetchall()
        records = [record_of(row, load=self._live, memo=self._memo) for row in rows]
        records.sort(key=lambda r: (-r.priority, r.seq))
        return records

    async def save(self, record: JobRecord) -> None:
        await self.save_many([record])

    async def save_many(self, records: list[JobRecord]) -> list[JobRecord]:
        return await self._database.call(self._save, [state_row(record) for record in records])

    def _save(self, rows: list[tuple[object, ...]]) -> list[JobRecord]:
        ended = [str(row[-1]) for row in rows if JobStatus(str(row[0])).final]
        for job_id in ended:
            self._live.pop(job_id, None)
        with self._database.transaction():
            # Never overwrite a final state: a job seen final is never re-run.
            self._database.db.executemany(
                "UPDATE jobs SET status = ?, run_at = ?, attempts = ?, result = ?, error = ?, "
                "progress = ?, started_at = ?, finished_at = ?, owner = ?, lease_until = ? "
                "WHERE id = ? AND status NOT IN ('succeeded', 'failed', 'cancelled')",
                rows,
            )
            return self._dependencies.settle(ended) if ended else []

    def _select_many(self, job_ids: list[str]) -> list[JobRecord]:
        found: list[JobRecord] = []
        for start in range(0, len(job_ids), 500):  # SQLite's limit on ? parameters
            chunk = tuple(job_ids[start : start + 500])
            found += self._select(f"id IN ({','.join('?' * len(chunk))})", chunk, load=False)
        return found

    async def cancel_waiting(self, job_id: str) -> JobRecord | None:
        return await self._database.call(self._cancel_waiting, job_id)

    def _cancel_waiting(self, job_id: str) -> JobRecord | None:
        with self._database.transaction():
            cursor = self._database.db.execute(
                f"UPDATE jobs SET status = 'cancelled', finished_at = ? "
                f"WHERE id = ? AND {WAITING_SQL}",
                (self.now(), job_id),
            )
            if cursor.rowcount != 1:
                return None
            self._live.pop(job_id, None)
            self._dependencies.settle([job_id])
            return self._select_one("id = ?", (job_id,), load=False)

    async def get(self, job_id: str) -> JobRecord | None:
        return await self._database.call(self._select_one, "id = ?", (job_id,), False)

    async def get_many(self, job_ids: list[str]) -> list[JobRecord]:
        return await self._database.call(self._get_many, job_ids)

    def _get_many(self, job_ids: list[str]) -> list[JobRecord]:
        return self._select_many(job_ids)

    async def next_due(self) -> float | None:
        return await self._database.call(self._next_due)

    def _next_due(self) -> float | None:
        (due,) = self._database.db.execute(
            f"SELECT MIN(run_at) FROM jobs WHERE {READY_SQL}"
        ).fetchone()
        return None if due is None else float(due)

    async def counts(self) -> dict[JobStatus, int]:
        return await self._database.call(self._counts)

    def _counts(self) -> dict[JobStatus, int]:
        counts = dict.fromkeys(JobStatus, 0)
        for status, count in self._database.db.execute(
            "SELECT status, COUNT(*) FROM jobs GROUP BY status"
        ):
            counts[JobStatus(status)] = count
        return counts

    async def running(self) -> int:
        return await self._database.call(self._running)

    def _running(self) -> int:
        # Matches the partial index jobs_running: no scan of the kept jobs.
        (count,) = self._database.db.execute(
            "SELECT COUNT(*) FROM jobs WHERE status = 'running'"
        ).fetchone()
        return int(count)

    async def failed(self, limit: int) -> list[JobRecord]:
        return await self._database.call(
            self._select, "status = 'failed' ORDER BY finished_at DESC LIMIT ?", (limit,), False
        )

    async def running_jobs(self, limit: int) -> list[JobRecord]:
        return await self._database.call(
            self._select, "status = 'running' ORDER BY started_at LIMIT ?", (limit,), False
        )

    async def retry_failed(self, job_id: str) -> JobRecord | None:
        return await self._database.call(self._retry_failed, job_id)

    def _retry_failed(self, job_id: str) -> JobRecord | None:
        with self._database.transaction():
            cursor = self._database.db.execute(
                f"UPDATE jobs SET {RETRY_FAILED_SQL} WHERE id = ? AND status = 'failed'",
                (self.now(), job_id),
            )
            if cursor.rowcount != 1:
                return None
            return self._select_one("id = ?", (job_id,), load=False)

    async def renew(self, owner: str, job_ids: list[str], lease: float) -> None:
        if job_ids:
            await self._database.call(self._renew, owner, job_ids, lease)

    def _renew(self, owner: str, job_ids: list[str], lease: float) -> None:
        marks = ",".join("?" * len(job_ids))
        with self._database.transaction():
            self._database.db.execute(
                f"UPDATE jobs SET lease_until = ? WHERE status = 'running' AND owner = ? "
                f"AND id IN ({marks})",
                (self.now() + lease, owner, *job_ids),
            )

    async def save_progress(self, owner: str, progress: list[tuple[str, Progress]]) -> None:
        """Store the last progress of jobs *owner* runs, for their followers elsewhere
        (who read it when they poll)."""
        if progress:
            await self._database.call(self._save_progress, owner, progress)

    def _save_progress(self, owner: str, progress: list[tuple[str, Progress]]) -> None:
        with self._database.transaction():
            self._database.db.executemany(
                "UPDATE jobs SET progress = ? WHERE id = ? AND owner = ? AND status = 'running'",
                [(encode_progress(p), job_id, owner) for job_id, p in progress],
            )

    async def release(self, owner: str) -> int:
        return await self._database.call(self._release, owner)

    def _release(self, owner: str) -> int:
        return self._requeue_running("owner = ?", (owner,))

    async def waiting(self) -> list[str]:
        return await self._database.call(self._waiting)

    def _waiting(self) -> list[str]:
        return [
            job_id
            for (job_id,) in self._database.db.execute(f"SELECT id FROM jobs WHERE {WAITING_SQL}")
        ]

    async def reclaim_expired(self) -> int:
        return await self._database.call(self._reclaim_expired)

    def _reclaim_expired(self) -> int:
        return self._requeue_running("lease_until < ?", (self.now(),))

    def _requeue_running(self, where: str, params: tuple[object, ...]) -> int:
        """Queue again the running jobs that match: their attempt was lost, so it
        does not count (a job is never failed for its process dying under it)."""
        with self._database.transaction():
            cursor = self._database.db.execute(
                "UPDATE jobs SET status = 'queued', attempts = attempts - 1, owner = NULL, "
                f"lease_until = NULL WHERE status = 'running' AND {where}",
                params,
            )
        return cursor.rowcount

    async def purge(self, older_than: float) -> int:
        return await self._database.call(self._purge, older_than)

    def _purge(self, older_than: float) -> int:
        with self._database.transaction():
            cursor = self._database.db.execute(
                "DELETE FROM jobs WHERE status IN ('succeeded', 'failed', 'cancelled') "
                "AND finished_at < ?",
                (self.now() - older_than,),
            )
        return cursor.rowcount

    # ------------------------------------------------------------ rows

    def _select_one(self, where: str, params: tuple[object, ...], load: Load) -> JobRecord | None:
        found = self._select(where, params, load)
        return found[0] if found else None

    def _select(self, where: str, params: tuple[object, ...], load: Load) -> list[JobRecord]:
        rows = self._database.db.execute(f"SELECT {COLUMNS} FROM jobs WHERE {where}", params)
        return [record_of(row, load=load, memo=self._memo) for row in rows]
