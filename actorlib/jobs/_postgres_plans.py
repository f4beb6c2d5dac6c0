"""The PostgreSQL store's plans over its jobs table, but the claim; knows no connection.

Each method builds a plan (or a statement) that the store runs on its pool;
none knows how it is run, and none awaits. The claim's text is cached by the
store (`_postgres_sql.claim_sql`).
"""

from __future__ import annotations

from collections.abc import Callable

from ._model import JobRecord
from ._postgres_deps import Dependencies
from ._postgres_link import Plan, Row, Statement
from ._postgres_link import one as _one
from ._postgres_link import only as _only
from ._postgres_link import statements as _statements
from ._postgres_listen import OWNER_LOCK_SPACE
from ._postgres_sql import (
    FINAL_SQL,
    INSERT_COLUMNS,
    SHOWN_COLUMNS,
    NoticeKey,
    notify,
    quoted,
    state_notice,
)
from ._sqlite_rows import READY_SQL, RETRY_FAILED_SQL, WAITING_SQL, Live, Load

#: Job ids per state notification: a payload must stay under 8000 bytes (notes 6).
_IDS_PER_NOTICE = 200

#: The owner locks held now, by the hash of their owner's name.
_HELD_SQL = (
    "(SELECT l.objid FROM pg_locks l "
    "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2 "
    "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
    f"AND l.classid = hashtext('{OWNER_LOCK_SPACE}')::oid)"
)
#: Running jobs whose owner's lock is free: their process died (its session ended).
#: NOT IN, not a correlated NOT EXISTS: pg_locks is read once (a hashed subplan),
#: however many jobs run.
_ORPHANED_SQL = f"hashtext(owner)::oid NOT IN {_HELD_SQL}"
#: The asker's own lock is held: its session has not been ended with the others'
#: (a failover, every session ended) before the asker noticed.
_MINE_HELD_SQL = f"hashtext(%s)::oid IN {_HELD_SQL}"


#: Seconds after the server started during which no owner counts as dead for want of
#: its lock: a restart of the server ended every session, and the live owners take
#: their locks again only once their queues listen again (within their next poll and
#: retry pause, a few seconds); their running jobs must not run twice meanwhile. An
#: owner that died in the meantime has its jobs re-queued when the grace ends.
RESTART_GRACE = 10.0

_SERVER_UP_FOR = "pg_postmaster_start_time() < now() - make_interval(secs => %s)"


class JobPlans:
    """Plans over the jobs table (and, through `Dependencies`, its edges table).

    Args:
        schema: the store's schema (checked), whose jobs and edges tables the plans use.
        channel: the new-jobs channel, notified when a job is due again.
        state_channel: the changed-jobs channel, notified with the ids of jobs changed.
        now: the store's clock.
        live: the functions of the jobs submitted in this process (for `Dependencies`).
        records: the store's decoding of rows into records (with its memo).
    """

    def __init__(
        self,
        schema: str,
        channel: str,
        state_channel: str,
        now: Callable[[], float],
        live: Live,
        records: Callable[[list[Row], Load], list[JobRecord]],
    ) -> None:
        self.table = f"{quoted(schema)}.jobs"
        self.channel = channel
        self.state_channel = state_channel
        self.now = now
        self.records = records
        deps = f"{quoted(schema)}.dependencies"
        self.dependencies = Dependencies(self.table, deps, channel, now, live, self.select)

    def select(self, where: str, params: tuple[object, ...]) -> Statement:
        """Read the rows (without function and arguments) that match *where*."""
        return Statement(f"SELECT {SHOWN_COLUMNS} FROM {self.table} WHERE {where}", params)

    def add(
        self, records: list[JobRecord], rows: list[tuple[object, ...]]
    ) -> Plan[list[tuple[JobRecord, bool]]]:
        """Insert the jobs whose keys are free; each other one's kept job stands for it.

        Safe to run again after a run whose answer was lost (its connection
        ended during the call): a job whose id is stored already was stored by
        that run, and is answered as added, with nothing inserted twice."""
        marks = ", ".join(["%s"] * len(rows[0]))
        # The notification goes out at commit, only if a row was inserted; identical
        # notifications of one transaction fold into one. No conflict target: a
        # taken key and a taken id (this add's own earlier run) both insert nothing.
        inserted = yield Statement(
            f"WITH added AS (INSERT INTO {self.table} ({INSERT_COLUMNS}) VALUES ({marks}) "
            f"ON CONFLICT DO NOTHING RETURNING id, seq) "
            f"SELECT id, seq, pg_notify(%s, '')::text FROM added",
            many=[(*row, self.channel) for row in rows],
        )
        seqs = {job_id: seq for job_id, seq, _ in inserted}
        left = [r for r in records if r.id not in seqs]
        stored: dict[str, int] = {}
        kept: dict[str, JobRecord] = {}
        if left:
            # A separate statement: in READ COMMITTED it sees the row of a concurrent
            # transaction that committed the key while the insert waited for it.
            # Two index scans, not one OR: without bitmap scans (the pool's
            # setting), an OR of two columns would read the whole table.
            found = yield Statement(
                f"SELECT {SHOWN_COLUMNS} FROM {self.table} WHERE id = ANY(%s) UNION ALL "
                f"SELECT {SHOWN_COLUMNS} FROM {self.table} WHERE key = ANY(%s)",
                ([r.id for r in left], [r.key for r in left if r.key is not None]),
            )
            ours = {r.id for r in left}
            for row in self.records(found, False):
                if row.id in ours:
                    stored[row.id] = row.seq
                elif row.key is not None:
                    kept[row.key] = row
        added: list[tuple[JobRecord, bool]] = []
        for record in records:
            if record.id in seqs:
                record.seq = seqs[record.id]
                if record.after:
                    yield from self.dependencies.block(record)
                added.append((record, True))
            elif record.id in stored:  # with its edges, by the run that stored it
                record.seq = stored[record.id]
                added.append((record, True))
            else:
                assert record.key is not None, "an insert without a key cannot conflict"
                added.append((kept[record.key], False))
        return added

    def changed(self, ids: list[str]) -> Plan[None]:
        """Tell the followers of these jobs in other processes to read them (at commit)."""
        for start in range(0, len(ids), _IDS_PER_NOTICE):
            payload = ",".join(ids[start : start + _IDS_PER_NOTICE])
            yield Statement("SELECT pg_notify(%s, %s)", (self.state_channel, payload))

    def started(self, payloads: list[str]) -> Plan[None]:
        """Send the notices of attempts started (`started_notices`) to their followers."""
        # Changes no row: nothing to flush to disk before the commit returns.
        sql = "SELECT pg_notify(%s, %s), set_config('synchronous_commit', 'off', true)"
        return _statements([Statement(sql, (self.state_channel, p)) for p in payloads])

    def save_progress(self, rows: list[tuple[object, ...]]) -> Plan[None]:
        """Store the progress of running jobs, from (progress, id, owner) rows."""
        yield Statement(
            f"UPDATE {self.table} SET progress = %s "
            f"WHERE id = %s AND owner = %s AND status = 'running'",
            many=rows,
        )
        yield from self.changed([str(row[1]) for row in rows])

    @property
    def update_state(self) -> str:
        """The UPDATE of a job's state from `state_row`'s parameters (never a final one)."""
        return (
            f"UPDATE {self.table} SET status = %s, run_at = %s, attempts = %s, "
            f"result = %s, error = %s, progress = %s, started_at = %s, finished_at = %s, "
            f"owner = %s, lease_until = %s WHERE id = %s AND NOT {FINAL_SQL}"
        )

    def save(
        self, rows: list[tuple[object, ...]], wakes: bool, ended: list[str], key: NoticeKey
    ) -> Plan[list[Row]]:
        """Save `state_row`s, wake queues if *wakes*, settle the dependents of *ended*."""
        # Each saved job's id goes to its followers elsewhere, in the same statement.
        yield Statement(
            f"WITH saved AS ({self.update_state} RETURNING id) "
            f"SELECT pg_notify(%s, %s)::text FROM saved",
            many=[(*row, self.state_channel, state_notice(row, key)) for row in rows],
        )
        if wakes:
            yield notify(self.channel)
        failed: list[Row] = []
        if ended:
            failed = yield from self.dependencies.settle(ended)
        return failed

    def cancel(self, job_id: str) -> Plan[list[Row]]:
        """Cancel the job if it waits, and settle its dependents; its row, or none."""
        rows = yield Statement(
            f"UPDATE {self.table} SET status = 'cancelled', finished_at = %s "
            f"WHERE id = %s AND {WAITING_SQL} RETURNING {SHOWN_COLUMNS}",
            (self.now(), job_id),
        )
        if rows:
            yield from self.dependencies.settle([job_id])
        return rows

    def retry(self, job_id: str) -> Plan[list[Row]]:
        """Queue the job again if it failed, and wake queues; its row, or none."""
        rows = yield Statement(
            f"UPDATE {self.table} SET {RETRY_FAILED_SQL.replace('?', '%s')} "
            f"WHERE id = %s AND status = 'failed' RETURNING {SHOWN_COLUMNS}",
            (self.now(), job_id),
        )
        if rows:
            yield notify(self.channel)
        return rows

    def requeue_running(self, where: str, params: tuple[object, ...]) -> Plan[int]:
        """Queue again the running jobs that match: their attempt was lost, so it
        does not count (a job is never failed for its process dying under it)."""
        ((count,),) = yield Statement(
            f"WITH back AS (UPDATE {self.table} SET status = 'queued', "
            f"attempts = attempts - 1, owner = NULL, lease_until = NULL "
            f"WHERE status = 'running' AND {where} RETURNING 1) SELECT count(*) FROM back",
            params,
        )
        if count:
            yield notify(self.channel)
        return int(count)

    def requeue_left_running(self) -> Plan[int]:
        """Queue again every running job (no other store is open: their owners are
        gone), unless the server has just started: then their owners may be alive
        and about to connect again, and `reclaim_expired` sees to them later."""
        return self.requeue_running(_SERVER_UP_FOR, (RESTART_GRACE,))

    def reclaim_expired(self, now: float, owner: str, *, orphans: bool = True) -> Plan[int]:
        """Queue again the running jobs whose lease ended before *now*, or (with
        *orphans*) whose owner's lock is free (its process died), but *owner*'s
        (this process's: alive, if it asks); and none for a free lock just after
        the server started, or while *owner*'s own lock is free (whatever ended
        its session ended the others' too, and they are taking theirs again)."""
        if not orphans:
            return self.requeue_running("lease_until < %s", (now,))
        return self.requeue_running(
            f"(lease_until < %s OR (owner <> %s AND {_SERVER_UP_FOR} AND {_MINE_HELD_SQL} "
            f"AND {_ORPHANED_SQL}))",
            (now, owner, RESTART_GRACE, owner),
        )

    def renew(self, owner: str, job_ids: list[str], until: float) -> Plan[list[Row]]:
        """Extend the leases of the jobs *owner* is running, to *until*."""
        return _one(
            f"UPDATE {self.table} SET lease_until = %s "
            f"WHERE status = 'running' AND owner = %s AND id = ANY(%s)",
            (until, owner, job_ids),
        )

    def purge(self, before: float) -> Plan[list[Row]]:
        """Delete the final jobs that finished before *before*; answers how many."""
        return _one(
            f"WITH gone AS (DELETE FROM {self.table} WHERE {FINAL_SQL} "
            f"AND finished_at < %s RETURNING 1) SELECT count(*) FROM gone",
            (before,),
        )

    # Reads of one statement each.

    def get_many(self, job_ids: list[str]) -> Plan[list[Row]]:
        """The rows of the jobs with those ids."""
        return _only(self.select("id = ANY(%s)", (job_ids,)))

    def failed(self, limit: int) -> Plan[list[Row]]:
        """The rows of the most recent jobs that failed for good."""
        return _only(self.select("status = 'failed' ORDER BY finished_at DESC LIMIT %s", (limit,)))

    def running_jobs(self, limit: int) -> Plan[list[Row]]:
        """The rows of up to *limit* running jobs, the earliest started first."""
        return _only(self.select("status = 'running' ORDER BY started_at LIMIT %s", (limit,)))

    def next_due(self) -> Plan[list[Row]]:
        """When the earliest waiting job is due (NULL if none waits)."""
        return _one(f"SELECT min(run_at) FROM {self.table} WHERE {READY_SQL}")

    def next_due_and_running(self) -> Plan[list[Row]]:
        """`next_due`, and how many jobs run, in one row."""
        return _one(
            f"SELECT (SELECT min(run_at) FROM {self.table} WHERE {READY_SQL}), "
            f"(SELECT count(*) FROM {self.table} WHERE status = 'running')"
        )

    def counts(self) -> Plan[list[Row]]:
        """How many jobs are in each status: (status, count) rows."""
        return _one(f"SELECT status, count(*) FROM {self.table} GROUP BY status")

    def running(self) -> Plan[list[Row]]:
        """How many jobs run, in every process."""
        return _one(f"SELECT count(*) FROM {self.table} WHERE status = 'running'")

    def waiting(self) -> Plan[list[Row]]:
        """The ids of the waiting (queued or retrying) jobs."""
        return _one(f"SELECT id FROM {self.table} WHERE {WAITING_SQL}")
