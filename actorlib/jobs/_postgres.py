"""The PostgreSQL job store: durable, shared by the processes of many hosts.

psycopg 3 is imported when the store opens, never before: ``actorlib.jobs``
works without it, and a missing driver is an error at `JobQueue.start`.
"""

from __future__ import annotations

import collections
import logging
import time
import urllib.parse
from collections.abc import Callable
from typing import TypeVar

import anyio

from . import _codec
from ._errors import JobDependencyError
from ._memory import failed_at_add as _failed_at_add
from ._memory import unknown_prerequisites
from ._model import WAITING, JobRecord, JobStatus, Progress
from ._postgres_link import Link, Plan, Row, Statement, connect, driver
from ._postgres_sql import (
    FINAL_SQL,
    INSERT_COLUMNS,
    SCHEMA_NAME,
    claim_sql,
    migrate,
    notify,
    quoted,
)
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

logger = logging.getLogger("actorlib")

#: The first of the two keys of every open store's session advisory lock.
_OPEN_LOCK_SPACE = "actorlib.jobs.open"
#: The first of the two keys of the lock that says an owner (a queue) lives; the second
#: is the owner's name. Its jobs are re-queued by anyone who sees it free.
_OWNER_LOCK_SPACE = "actorlib.jobs.owner"
#: Job ids per state notification: a payload must stay under 8000 bytes (notes 6).
_IDS_PER_NOTICE = 200

#: Running jobs whose owner's lock is free: their process died (its session ended).
#: NOT IN, not a correlated NOT EXISTS: pg_locks is read once (a hashed subplan),
#: however many jobs run.
_ORPHANED_SQL = (
    "hashtext(owner)::oid NOT IN (SELECT l.objid FROM pg_locks l "
    "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2 "
    "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
    f"AND l.classid = hashtext('{_OWNER_LOCK_SPACE}')::oid)"
)


class PostgresStore:
    """Jobs in a PostgreSQL database (14 or later), shared by every process that opens it.

    ``postgresql://user@host:5432/db`` (or ``postgres://``), with an optional
    ``?schema=name`` (default ``actorlib``): the tables live in that schema,
    which the store creates and migrates itself. Every state change is
    committed before the method returns.

    - **Claims** are one statement with ``FOR UPDATE SKIP LOCKED`` in READ
      COMMITTED: two processes never take the same job.
    - **Wake-ups**: a new or retried job sends a ``NOTIFY``; `watch` wakes the
      queues of other processes at once, instead of at their next poll.
    - **Time** is wall-clock seconds, corrected by the offset from the
      server's clock measured at `open`, so that hosts agree on run times and
      leases within a round trip (plus whatever their clocks drift since).
    - **Job state notifications**: a claim, an outcome or a progress report
      sends the ids of the jobs it changed (never the jobs) on a second
      channel, so that queues in other processes that follow those jobs read
      their rows at once (`watch`'s *changed*).
    - **Recovery**: each open store holds a shared advisory lock; a store that
      opens and finds itself alone re-queues the jobs an earlier run left
      running. Each also holds an advisory lock keyed by its owner on the
      listening connection: `reclaim_expired` (every queue's poll) re-queues
      the running jobs whose owner's lock is free, since the server frees it
      when the owner's session ends (a SIGKILLed process: within
      milliseconds; a cut network: within the keepalives, about 8 s). Leases
      remain, for processes that hang with their session open.
    - **Backends**: psycopg's ``AsyncConnection`` on asyncio; on trio, where
      it does not run, the blocking connection in a worker thread.

    Args:
        url: the database, as a libpq URL.
        schema: the schema name (overrides ``?schema=`` in the URL).
        connections: how many connections run calls at once (plus one that
            listens for notifications).
        clock: the local wall clock (tests pass a fake one).

    Raises:
        ValueError: not a postgresql:// URL, or a bad schema name.
    """

    durable = True

    def __init__(
        self,
        url: str,
        *,
        schema: str | None = None,
        connections: int = 2,
        clock: Callable[[], float] = time.time,
    ) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("postgresql", "postgres"):
            raise ValueError(
                f"a PostgreSQL store URL starts with postgresql:// or postgres://, got {url!r}"
            )
        query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
        given = [value for name, value in query if name == "schema"]
        schema = schema if schema is not None else (given[-1] if given else "actorlib")
        if not SCHEMA_NAME.fullmatch(schema):
            raise ValueError(
                f"the job store's schema must be a lower-case SQL name (letters, digits, _; "
                f"at most 48), got {schema!r}; e.g. {url.split('?')[0]}?schema=jobs"
            )
        if isinstance(connections, bool) or not isinstance(connections, int) or connections < 1:
            raise ValueError(f"connections must be an int >= 1, got {connections!r}")
        rest = urllib.parse.urlencode([(n, v) for n, v in query if n != "schema"])
        self._conninfo = urllib.parse.urlunsplit(parts._replace(query=rest))
        self.url = _without_password(parts)
        self.schema = schema
        self._clock = clock
        self._offset = 0.0
        self._size = connections
        self._table = f"{quoted(schema)}.jobs"
        self._deps = f"{quoted(schema)}.dependencies"
        self._channel = f"actorlib_jobs.{schema}"
        # At most 63 bytes, as every SQL name: the schema has at most 48.
        self._state_channel = f"actorlib_state.{schema}"
        self._owner = ""
        self._name = f"actorlib.jobs {schema}"
        self._idle: list[Link | None] = []
        self._free: anyio.Semaphore | None = None
        self._listener: Link | None = None
        # How many times a listener has started listening: a queue that reads its
        # followed jobs and later finds the same number missed no notification since.
        self.listens = 0
        # Whether the listener hears the state channel: from the first job this
        # process submits or looks up (`_follow`); a worker that never does is
        # spared every job's state notifications, and so is the server.
        self._following = False
        # The watch's current wait for notifications, which `_follow` interrupts.
        self._waiting: anyio.CancelScope | None = None
        self._own_pids: set[int] = set()
        # The live function and arguments of the jobs submitted in this process,
        # until they end (as in the SQLite store).
        self._live: Live = {}
        self._memo = Memo()

    def __repr__(self) -> str:
        return f"<PostgresStore {self.url} schema={self.schema!r}>"

    def now(self) -> float:
        """Wall-clock seconds, on the server's clock (see the class docstring)."""
        return self._clock() + self._offset

    # ------------------------------------------------------------ open/close

    async def open(self, owner: str) -> None:
        """Connect, create or migrate the schema, and recover jobs left running.

        Raises:
            ImportError: psycopg is not installed (install ``actorlib[postgres]``).
            psycopg.OperationalError: the server cannot be reached.
        """
        driver()
        self._owner = owner
        self._free = anyio.Semaphore(self._size)
        try:
            self._idle = [await self._connect() for _ in range(self._size)]
            first = self._idle[0]
            assert first is not None
            self._offset = await self._measure_offset(first)
            applied = await first.run(migrate(self.schema, f"{self.schema}.migrate"), atomic=True)
            if applied:
                logger.info(
                    "job store %s: schema %s at version %d", self.url, self.schema, applied[-1]
                )
            alone = await self._listen()
        except BaseException:
            with anyio.CancelScope(shield=True):
                await self.close()
            raise
        if alone:
            # Nobody else has the store open: whatever is marked running was
            # left by a process that died. Run it again at once.
            await self._call(self._requeue_running("TRUE", ()))
        else:
            await self.reclaim_expired()

    async def _connect(self) -> Link:
        link = await connect(
            self._conninfo,
            [
                Statement("SET default_transaction_isolation = 'read committed'"),
                # Names the connection in pg_stat_activity.
                Statement("SELECT set_config('application_name', %s, false)", (self._name,)),
            ],
        )
        self._own_pids.add(link.backend_pid)
        return link

    async def _measure_offset(self, link: Link) -> float:
        before = self._clock()
        ((server,),) = await link.run(
            _one("SELECT extract(epoch FROM clock_timestamp())"), atomic=False
        )
        after = self._clock()
        return float(server) - (before + after) / 2

    async def _listen(self) -> bool:
        """Connect the listener; take the shared open-lock; report whether alone."""
        space, key = _OPEN_LOCK_SPACE, self.schema
        listener = await connect(
            self._conninfo,
            [
                # This session's life is the lock's: never time it out, and let
                # the server notice a dead peer within seconds (notes: 2 s/1 s/3).
                Statement(
                    "SELECT set_config('application_name', %s, false)",
                    (f"{self._name} listener",),
                ),
                Statement("SET idle_session_timeout = 0"),
                Statement("SET tcp_keepalives_idle = 5"),
                Statement("SET tcp_keepalives_interval = 1"),
                Statement("SET tcp_keepalives_count = 3"),
                Statement(f'LISTEN "{self._channel}"'),
                *([Statement(f'LISTEN "{self._state_channel}"')] if self._following else []),
                Statement(
                    "SELECT pg_advisory_lock_shared(hashtext(%s), hashtext(%s))", (space, key)
                ),
                # Held while this queue lives: its running jobs are re-queued once it is free.
                Statement(
                    "SELECT pg_advisory_lock(hashtext(%s), hashtext(%s))",
                    (_OWNER_LOCK_SPACE, self._owner),
                ),
            ],
        )
        self._listener = listener
        self.listens += 1
        # A session's own locks never conflict with each other: the exclusive
        # lock is granted iff no other session holds the shared one.
        ((alone,),) = await listener.run(
            _one("SELECT pg_try_advisory_lock(hashtext(%s), hashtext(%s))", (space, key)),
            atomic=False,
        )
        if alone:
            await listener.run(
                _one("SELECT pg_advisory_unlock(hashtext(%s), hashtext(%s))", (space, key)),
                atomic=False,
            )
        return bool(alone)

    async def close(self) -> None:
        """Close every connection (the jobs stay in the database)."""
        links, self._idle = self._idle, []
        listener, self._listener = self._listener, None
        for link in [*links, listener]:
            if link is not None:
                await link.close()
        self._own_pids.clear()

    async def watch(
        self,
        wake: Callable[[], None],
        changed: Callable[[list[str]], None] | None = None,
    ) -> None:
        """Call *wake* whenever another process may have made a job due, and
        *changed* with the ids of jobs another process changed; until cancelled.

        Reconnects the listener first if an earlier watch lost it, and then
        wakes at once: notifications sent while nobody listened are gone.

        Raises:
            psycopg.OperationalError: the listening connection was lost (the
                queue calls `watch` again at its next poll).
        """
        if self._listener is None:
            await self._listen()
            wake()
        listener = self._listener
        assert listener is not None
        try:
            while True:
                with anyio.CancelScope() as waiting:
                    self._waiting = waiting
                    notices = await listener.wait_notifies()
                self._waiting = None
                if waiting.cancelled_caught:
                    continue  # `_follow` needed the listener
                # This process's own changes are known to its queue already.
                foreign = [n for n in notices if n.pid not in self._own_pids]
                ids = [
                    job_id
                    for n in foreign
                    if n.channel == self._state_channel
                    for job_id in n.payload.split(",")
                    if job_id
                ]
                if any(n.channel == self._channel for n in foreign):
                    wake()
                if ids and changed is not None:
                    changed(ids)
        except Exception:
            self._listener = None
            with anyio.CancelScope(shield=True):
                await listener.close()
            raise

    async def _follow(self) -> None:
        """Hear the state channel from now on (before the caller's job can change)."""
        if self._following:
            return
        self._following = True
        listener = self._listener
        if listener is None:
            return  # `_listen` starts with it
        if self._waiting is not None:
            self._waiting.cancel()  # the watch gives the listener up, then waits again
        try:
            await listener.run(_one(f'LISTEN "{self._state_channel}"'), atomic=False)
        except Exception:
            # The listener is unusable: drop it, as a watch that loses it does. The
            # next watch listens again (on both channels: the flag is set), and the
            # queue reads its followed jobs at its next poll (`listens` changes).
            logger.debug(
                "job store %s: LISTEN on the state channel failed", self.url, exc_info=True
            )
            if self._listener is listener:
                self._listener = None
                with anyio.CancelScope(shield=True):
                    await listener.close()

    async def _call(self, plan: Plan[_T], *, atomic: bool = False) -> _T:
        """Run *plan* on an idle connection (reconnecting one that was lost)."""
        if self._free is None:
            raise RuntimeError(f"the job store {self.url} is not open")
        async with self._free:
            link = self._idle.pop()
            try:
                if link is None:
                    link = await self._connect()
                return await link.run(plan, atomic=atomic)
            except Exception:
                if link is not None and link.broken:
                    self._own_pids.discard(link.backend_pid)
                    with anyio.CancelScope(shield=True):
                        await link.close()
                    link = None  # the next call reconnects
                raise
            finally:
                self._idle.append(link)

    # ------------------------------------------------------------ jobs

    async def add(self, record: JobRecord) -> tuple[JobRecord, bool]:
        """Store a new job; if its key is taken, return the kept job and False instead."""
        (added,) = await self.add_many([record])
        return added

    async def add_many(self, records: list[JobRecord]) -> list[tuple[JobRecord, bool]]:
        """`add` each record, all in one commit (all or none)."""
        # Encode here, in the caller's task: a pickling error is the caller's.
        rows = [insert_row(record, self._memo) for record in records]
        await self._follow()
        atomic = len(records) > 1 or any(record.after for record in records)
        added = await self._call(self._add(records, rows), atomic=atomic)
        # Committed: from now on these jobs run as submitted, in this process.
        for record, created in added:
            if created:
                self._live[record.id] = (record.function, record.args, record.kwargs)
        return added

    def _add(
        self, records: list[JobRecord], rows: list[tuple[object, ...]]
    ) -> Plan[list[tuple[JobRecord, bool]]]:
        marks = ", ".join(["%s"] * len(rows[0]))
        # The notification goes out at commit, only if a row was inserted; identical
        # notifications of one transaction fold into one.
        inserted = yield Statement(
            f"WITH added AS (INSERT INTO {self._table} ({INSERT_COLUMNS}) VALUES ({marks}) "
            f"ON CONFLICT (key) DO NOTHING RETURNING id, seq) "
            f"SELECT id, seq, pg_notify(%s, '')::text FROM added",
            many=[(*row, self._channel) for row in rows],
        )
        seqs = {job_id: seq for job_id, seq, _ in inserted}
        taken = [r.key for r in records if r.id not in seqs and r.key is not None]
        kept: dict[str, JobRecord] = {}
        if taken:
            # A separate statement: in READ COMMITTED it sees the row of a concurrent
            # transaction that committed the key while the insert waited for it.
            found = yield self._select("key = ANY(%s)", (taken,))
            kept = {str(r.key): r for r in self._records(found, load=False)}
        added: list[tuple[JobRecord, bool]] = []
        for record in records:
            if record.id in seqs:
                record.seq = seqs[record.id]
                if record.after:
                    yield from self._block(record)
                added.append((record, True))
            else:
                assert record.key is not None, "an insert without a key cannot conflict"
                added.append((kept[record.key], False))
        return added

    def _block(self, record: JobRecord) -> Plan[None]:
        """In the add's transaction: count *record*'s unfinished prerequisites, keep the
        edges, or fail it at once if one has failed or was cancelled already.

        ``FOR SHARE`` waits for a concurrent commit that ends a prerequisite
        (its UPDATE locks the row), and then reads the ended row; a save that
        comes second waits for this commit and then sees the new edges.
        """
        after = list(dict.fromkeys(record.after))
        rows = yield Statement(
            f"SELECT id, status, name FROM {self._table} WHERE id = ANY(%s) FOR SHARE", (after,)
        )
        found = {str(job_id): (str(status), str(name)) for job_id, status, name in rows}
        missing = [job_id for job_id in after if job_id not in found]
        if missing:
            raise unknown_prerequisites(record, missing)
        for job_id, (status, name) in found.items():
            if status in ("failed", "cancelled"):
                yield from self._fail_dependents(
                    [(record.id, record.name)], f"{name}[{job_id}]", status
                )
                _failed_at_add(record, f"{name}[{job_id}]", status, self.now())
                return
        waiting = [job_id for job_id, (status, _) in found.items() if status != "succeeded"]
        if waiting:
            yield Statement(
                f"INSERT INTO {self._deps} (prerequisite, dependent) VALUES (%s, %s) "
                f"ON CONFLICT DO NOTHING",
                many=[(job_id, record.id) for job_id in waiting],
            )
            yield Statement(
                f"UPDATE {self._table} SET blockers = %s WHERE id = %s", (len(waiting), record.id)
            )
        record.blockers = len(waiting)

    def _settle(self, ended: list[str]) -> Plan[list[Row]]:
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
                f"WITH gone AS (DELETE FROM {self._deps} WHERE prerequisite = ANY(%s) "
                f"RETURNING prerequisite, dependent) "
                f"SELECT p.id, p.status, p.name, j.id, j.name FROM gone "
                f"JOIN {self._table} j ON j.id = gone.dependent "
                f"JOIN {self._table} p ON p.id = gone.prerequisite WHERE NOT j.{FINAL_SQL}",
                (pending,),
            )
            pending = []
            # A job waiting for two that both succeeded here is released twice.
            releases = collections.Counter(
                str(dependent) for _, status, _, dependent, _ in rows if status == "succeeded"
            )
            if releases:
                yield Statement(
                    f"UPDATE {self._table} SET blockers = blockers - %s WHERE id = %s",
                    many=[(count, dependent) for dependent, count in releases.items()],
                )
                released = True
            doomed: dict[tuple[str, str, str], list[tuple[str, str]]] = {}
            for job_id, status, name, dependent, dependent_name in rows:
                if status != "succeeded":
                    dependents = doomed.setdefault((str(job_id), str(name), str(status)), [])
                    dependents.append((str(dependent), str(dependent_name)))
            for (job_id, name, status), dependents in doomed.items():
                yield from self._fail_dependents(dependents, f"{name}[{job_id}]", status)
                new = [dependent for dependent, _ in dependents if dependent not in failed]
                failed += new
                pending += new
        if released:
            yield notify(self._channel)
        if not failed:
            return []
        found = yield self._select("id = ANY(%s)", (failed,))
        return found

    def _fail_dependents(
        self, dependents: list[tuple[str, str]], prerequisite: str, status: str
    ) -> Plan[None]:
        now = self.now()
        rows = []
        for job_id, name in dependents:
            error = JobDependencyError(
                job=f"{name}[{job_id}]", prerequisite=prerequisite, status=status
            )
            rows.append((_codec.encode_outcome(error, error.job), now, job_id))
            self._live.pop(job_id, None)
        yield Statement(
            f"UPDATE {self._table} SET status = 'failed', error = %s, finished_at = %s, "
            f"blockers = 0 WHERE id = %s AND NOT {FINAL_SQL}",
            many=rows,
        )

    async def claim(self, owner: str, limit: int, lease: float) -> list[JobRecord]:
        """Mark up to *limit* due waiting jobs running for *owner*: priority first, then FIFO."""
        records, _ = await self.claim_and_next_due(owner, limit, lease)
        return records

    async def claim_and_next_due(
        self, owner: str, limit: int, lease: float
    ) -> tuple[list[JobRecord], float | None]:
        """`claim`, and `next_due` of the jobs left waiting, in one round trip."""
        now = self.now()
        params = (now, limit, now, owner, now + lease, self._state_channel)
        rows = await self._call(_one(claim_sql(self.schema), params))
        due = rows[0][-1] if rows else None
        # The last two columns are the notification's and the due time; a row
        # whose seq is NULL stands for "none claimed".
        claimed = [row[:-2] for row in rows if row[0] is not None]
        records = self._records(claimed, load=self._live)
        records.sort(key=lambda r: (-r.priority, r.seq))
        return records, None if due is None else float(due)

    def _changed(self, ids: list[str]) -> Plan[None]:
        """Tell the followers of these jobs in other processes to read them (at commit)."""
        for start in range(0, len(ids), _IDS_PER_NOTICE):
            payload = ",".join(ids[start : start + _IDS_PER_NOTICE])
            yield Statement("SELECT pg_notify(%s, %s)", (self._state_channel, payload))

    async def save_progress(self, owner: str, progress: list[tuple[str, Progress]]) -> None:
        """Store the last progress of jobs *owner* runs, for their followers elsewhere."""
        rows: list[tuple[object, ...]] = [(encode_progress(p), i, owner) for i, p in progress]
        if rows:
            await self._call(self._save_progress(rows), atomic=True)

    def _save_progress(self, rows: list[tuple[object, ...]]) -> Plan[None]:
        yield Statement(
            f"UPDATE {self._table} SET progress = %s "
            f"WHERE id = %s AND owner = %s AND status = 'running'",
            many=rows,
        )
        yield from self._changed([str(row[1]) for row in rows])

    async def save(self, record: JobRecord) -> None:
        """Commit a job's new state (never over a final state)."""
        await self.save_many([record])

    async def save_many(self, records: list[JobRecord]) -> list[JobRecord]:
        """`save` each record, all in one commit; wake other processes for retries;
        release or fail the dependents of the jobs that ended (returns the failed ones)."""
        rows = [state_row(record) for record in records]
        wakes = any(record.status in WAITING for record in records)
        ended = [record.id for record in records if record.status.final]
        for job_id in ended:
            self._live.pop(job_id, None)
        atomic = len(rows) > 1 or wakes or bool(ended)
        failed = await self._call(self._save(rows, wakes, ended), atomic=atomic)
        return self._records(failed, load=False)

    def _save(
        self, rows: list[tuple[object, ...]], wakes: bool, ended: list[str]
    ) -> Plan[list[Row]]:
        # Each saved job's id goes to its followers elsewhere, in the same statement.
        yield Statement(
            f"WITH saved AS (UPDATE {self._table} SET status = %s, run_at = %s, attempts = %s, "
            f"result = %s, error = %s, progress = %s, started_at = %s, finished_at = %s, "
            f"owner = %s, lease_until = %s WHERE id = %s AND NOT {FINAL_SQL} RETURNING id) "
            f"SELECT pg_notify(%s, id)::text FROM saved",
            many=[(*row, self._state_channel) for row in rows],
        )
        if wakes:
            yield notify(self._channel)
        failed: list[Row] = []
        if ended:
            failed = yield from self._settle(ended)
        return failed

    async def cancel_waiting(self, job_id: str) -> JobRecord | None:
        """Cancel the job if it is waiting (queued or retrying); None if it is not."""
        rows = await self._call(self._cancel(job_id), atomic=True)
        if not rows:
            return None
        self._live.pop(job_id, None)
        return self._records(rows, load=False)[0]

    def _cancel(self, job_id: str) -> Plan[list[Row]]:
        rows = yield Statement(
            f"UPDATE {self._table} SET status = 'cancelled', finished_at = %s "
            f"WHERE id = %s AND {WAITING_SQL} RETURNING {COLUMNS}",
            (self.now(), job_id),
        )
        if rows:
            yield from self._settle([job_id])
        return rows

    async def get(self, job_id: str) -> JobRecord | None:
        """The job with that id, or None (whose changes this process hears of from now on)."""
        await self._follow()
        found = await self.get_many([job_id])
        return found[0] if found else None

    async def get_many(self, job_ids: list[str]) -> list[JobRecord]:
        """The jobs with those ids that are kept, in no particular order."""
        rows = await self._call(_only(self._select("id = ANY(%s)", (job_ids,))))
        return self._records(rows, load=False)

    async def next_due(self) -> float | None:
        """When the earliest waiting job is due, or None if none waits."""
        ((due,),) = await self._call(
            _one(f"SELECT min(run_at) FROM {self._table} WHERE {READY_SQL}")
        )
        return None if due is None else float(due)

    async def counts(self) -> dict[JobStatus, int]:
        """How many jobs are in each status."""
        counts = dict.fromkeys(JobStatus, 0)
        rows = await self._call(_one(f"SELECT status, count(*) FROM {self._table} GROUP BY status"))
        for status, count in rows:
            counts[JobStatus(status)] = int(count)
        return counts

    async def running(self) -> int:
        """How many jobs run, in every process (the partial index jobs_running)."""
        ((count,),) = await self._call(
            _one(f"SELECT count(*) FROM {self._table} WHERE status = 'running'")
        )
        return int(count)

    async def failed(self, limit: int) -> list[JobRecord]:
        """The most recent jobs that failed for good (the dead letters)."""
        rows = await self._call(
            _only(self._select("status = 'failed' ORDER BY finished_at DESC LIMIT %s", (limit,)))
        )
        return self._records(rows, load=False)

    async def running_jobs(self, limit: int) -> list[JobRecord]:
        """Up to *limit* running jobs, the earliest started first (what dashboards show)."""
        rows = await self._call(
            _only(self._select("status = 'running' ORDER BY started_at LIMIT %s", (limit,)))
        )
        return self._records(rows, load=False)

    async def retry_failed(self, job_id: str) -> JobRecord | None:
        """Queue a failed job again, due now, as if new; None if it is not failed."""
        rows = await self._call(self._retry(job_id), atomic=True)
        return self._records(rows, load=False)[0] if rows else None

    def _retry(self, job_id: str) -> Plan[list[Row]]:
        rows = yield Statement(
            f"UPDATE {self._table} SET {RETRY_FAILED_SQL.replace('?', '%s')} "
            f"WHERE id = %s AND status = 'failed' RETURNING {COLUMNS}",
            (self.now(), job_id),
        )
        if rows:
            yield notify(self._channel)
        return rows

    async def renew(self, owner: str, job_ids: list[str], lease: float) -> None:
        """Extend the leases of the jobs *owner* is running."""
        if job_ids:
            await self._call(
                _one(
                    f"UPDATE {self._table} SET lease_until = %s "
                    f"WHERE status = 'running' AND owner = %s AND id = ANY(%s)",
                    (self.now() + lease, owner, job_ids),
                )
            )

    async def release(self, owner: str) -> int:
        """Put the jobs *owner* was running back in the queue (its attempts were lost)."""
        return await self._call(self._requeue_running("owner = %s", (owner,)))

    async def reclaim_expired(self) -> int:
        """Put running jobs whose lease expired, or whose owner's lock is free (its
        process died), back in the queue; return how many."""
        return await self._call(
            self._requeue_running(f"(lease_until < %s OR {_ORPHANED_SQL})", (self.now(),))
        )

    def _requeue_running(self, where: str, params: tuple[object, ...]) -> Plan[int]:
        """Queue again the running jobs that match: their attempt was lost, so it
        does not count (a job is never failed for its process dying under it)."""
        ((count,),) = yield Statement(
            f"WITH back AS (UPDATE {self._table} SET status = 'queued', "
            f"attempts = attempts - 1, owner = NULL, lease_until = NULL "
            f"WHERE status = 'running' AND {where} RETURNING 1) SELECT count(*) FROM back",
            params,
        )
        if count:
            yield notify(self._channel)
        return int(count)

    async def waiting(self) -> list[str]:
        """The ids of the waiting (queued or retrying) jobs, in no particular order."""
        rows = await self._call(_one(f"SELECT id FROM {self._table} WHERE {WAITING_SQL}"))
        return [str(job_id) for (job_id,) in rows]

    async def purge(self, older_than: float) -> int:
        """Delete final jobs that finished more than *older_than* seconds ago."""
        ((count,),) = await self._call(
            _one(
                f"WITH gone AS (DELETE FROM {self._table} WHERE {FINAL_SQL} "
                f"AND finished_at < %s RETURNING 1) SELECT count(*) FROM gone",
                (self.now() - older_than,),
            )
        )
        return int(count)

    # ------------------------------------------------------------ rows

    def _select(self, where: str, params: tuple[object, ...]) -> Statement:
        return Statement(f"SELECT {COLUMNS} FROM {self._table} WHERE {where}", params)

    def _records(self, rows: list[Row], load: Load) -> list[JobRecord]:
        return [record_of(row, load=load, memo=self._memo) for row in rows]


_T = TypeVar("_T")


def _one(query: str, params: tuple[object, ...] | None = None) -> Plan[list[Row]]:
    """A plan of one statement, answering its rows."""
    return _only(Statement(query, params))


def _only(statement: Statement) -> Plan[list[Row]]:
    rows = yield statement
    return rows


def _without_password(parts: urllib.parse.SplitResult) -> str:
    """The URL to show in messages: no password, no query."""
    netloc = parts.netloc
    if parts.password is not None:
        user, _, host = netloc.rpartition("@")
        netloc = f"{user.partition(':')[0]}:***@{host}"
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc, query=""))
