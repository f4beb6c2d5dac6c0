"""The PostgreSQL job store: durable, shared by the processes of many hosts.

psycopg 3 is imported when the store opens, never before: ``actorlib.jobs``
works without it, and a missing driver is an error at `JobQueue.start`.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import anyio

from . import _postgres_plans
from ._errors import JobStoreUnavailableError, short_error
from ._model import WAITING, JobChange, JobRecord, JobStatus, Progress
from ._postgres_deps import LOCK_BUSY
from ._postgres_link import Row, driver, lost_server
from ._postgres_link import one as _one
from ._postgres_listen import Listener
from ._postgres_plans import JobPlans
from ._postgres_pool import LinkPool, measure_offset
from ._postgres_schema import check_readable, prepare
from ._postgres_sql import (
    NoticeKey,
    claim_sql,
    parse_state_payloads,
    save_ended,
    started_notices,
)
from ._postgres_url import parse_url
from ._sqlite_rows import Live, Load, Memo, encode_progress, insert_row, record_of, state_row

#: Seconds an add waits before it tries again, when a prerequisite was locked (doubling).
_BUSY_PAUSE, _BUSY_PAUSE_MAX = 0.001, 0.05


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
    - **Job state notifications**: an outcome or a progress report sends the
      ids of the jobs it changed on a second channel, so that queues in other
      processes that follow those jobs see the change at once (`watch`'s
      *changed*); so does an attempt that has run a while (`tell_started`;
      not the claim). A success also says its times and its result when it
      is small (`_postgres_sql.state_notice`): followers need not read the row.
    - **Recovery**: each open store holds a shared advisory lock; a store that
      opens and finds itself alone re-queues the jobs an earlier run left
      running. Each also holds an advisory lock keyed by its owner on the
      listening connection: `reclaim_expired` (every queue's poll) re-queues
      the running jobs whose owner's lock is free, since the server frees it
      when the owner's session ends (a SIGKILLed process: within
      milliseconds; a cut network: within the keepalives, about 8 s); never
      its own, and nobody's in the `RESTART_GRACE` after the server started
      (`_postgres_plans`), nor while this store's own listening session is
      lost and the grace after it is back (`Listener.locks_settled`: a
      failover ends every session, on a server that did not restart).
      Leases remain, for processes that hang.
    - **Outages**: a lost or refused connection (`lost_server`), in a call or
      in `watch`, raises `JobStoreUnavailableError`; the queue keeps what it
      could not commit and tries again (`_outage`). An idle connection the
      server ended is replaced before its next call; an add whose connection
      is lost during the call runs once more on a new one, where the jobs'
      ids make it store each job once (`LinkPool.call`'s *again*).
    - **Backends**: psycopg's ``AsyncConnection`` on asyncio; on trio, where
      it does not run, the blocking connection in a worker thread.

    Args:
        url: the database, as a libpq URL.
        schema: the schema name (overrides ``?schema=`` in the URL).
        connections: how many connections run calls at once (plus one that
            listens for notifications).
        clock: the local wall clock (tests pass a fake one).
        read_only: open an existing store to read it only, as ``status`` does:
            no schema is made or migrated, no job recovered, and the server
            refuses every write (``default_transaction_read_only``). Not for
            a queue.

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
        read_only: bool = False,
    ) -> None:
        conninfo, self.url, self.schema = parse_url(url, schema)
        if isinstance(connections, bool) or not isinstance(connections, int) or connections < 1:
            raise ValueError(f"connections must be an int >= 1, got {connections!r}")
        self._clock = clock
        self._offset = 0.0
        self._claim_sql = claim_sql(self.schema)
        # Signs the state notices this store sends, checks those it hears (`open`).
        self._key = NoticeKey(b"")
        name = f"actorlib.jobs {self.schema}"
        self.read_only = read_only
        self._pool = LinkPool(conninfo, name, connections, self.url, read_only=read_only)
        self._hearing = Listener(
            conninfo, name, self.schema, self._pool.own_pids, self.url, self.now
        )
        self._channel = self._hearing.channel
        self._state_channel = self._hearing.state_channel
        # The live function and arguments of the jobs submitted in this process,
        # until they end (as in the SQLite store).
        self._live: Live = {}
        self._memo = Memo()
        self._plans = JobPlans(
            self.schema, self._channel, self._state_channel, self.now, self._live, self._records
        )

    def __repr__(self) -> str:
        return f"<PostgresStore {self.url} schema={self.schema!r}>"

    def now(self) -> float:
        """Wall-clock seconds, on the server's clock (see the class docstring)."""
        return self._clock() + self._offset

    # ------------------------------------------------------------ open/close

    async def open(self, owner: str) -> None:
        """Connect, create or migrate the schema, and recover jobs left running
        (read-only: connect, and check that the store is there).

        Raises:
            ImportError: psycopg is not installed (install ``actorlib[postgres]``).
            JobStoreUnavailableError: the server cannot be reached, or refused the
                connection (a database that does not exist, a role not allowed).
            FileNotFoundError: read-only, and the schema holds no store.
            RuntimeError: read-only, and the store's tables are older than this
                actorlib's (only a read-write open migrates them).
        """
        # Imported in a thread: its first import takes about 0.1 s, which on the
        # event loop would stall every actor (and trip the watchdog) as a worker starts.
        psycopg = await anyio.to_thread.run_sync(driver)
        self._hearing.owner = owner
        try:
            first = await self._pool.open()
            self._offset = await measure_offset(first, self._clock)
            if self.read_only:
                await check_readable(first, self.schema, self.url)
                return
            self._key = await prepare(first, self.schema, self.url)
            alone = await self._hearing.start()
        except BaseException as error:
            with anyio.CancelScope(shield=True):
                await self.close()
            if isinstance(error, psycopg.OperationalError | psycopg.InterfaceError):
                hint = "check that the server is up and accepts this URL's database and user"
                raise JobStoreUnavailableError(
                    self.url, short_error(error, first_line=True), hint
                ) from error
            raise
        if alone:
            # Nobody else has the store open: whatever is marked running was
            # left by a process that died. Run it again at once.
            await self._pool.call(self._plans.requeue_left_running())
        else:
            await self.reclaim_expired()

    async def close(self) -> None:
        """Close every connection (the jobs stay in the database)."""
        await self._pool.close()
        await self._hearing.close()
        # Only now: until its session closed, the listener dropped these pids' notices.
        self._pool.own_pids.clear()

    async def watch(
        self,
        wake: Callable[[], None] | None,
        changed: Callable[[list[str | JobChange]], None] | None = None,
    ) -> None:
        """Call *wake* whenever another process may have made a job due, and
        *changed* with the jobs another process changed; until cancelled.

        Each change is a job id (read the job) or, for an attempt started and a
        success with a small result, a `JobChange` that says it all.

        Reconnects the listener first if an earlier watch lost it, and then
        wakes at once: notifications sent while nobody listened are gone. A
        queue that runs no jobs passes None for *wake*: the listener then
        never hears the new-jobs channel (one notification per submit, its
        own included, that such a queue would only throw away).

        Raises:
            JobStoreUnavailableError: the listening connection was lost (the
                queue calls `watch` again at its next poll).
        """

        def told(payloads: list[str]) -> None:
            assert changed is not None
            changed(parse_state_payloads(payloads, self._key))

        try:
            await self._hearing.watch(wake, None if changed is None else told)
        except Exception as error:
            if lost_server(error):
                raise JobStoreUnavailableError(
                    self.url, short_error(error, first_line=True)
                ) from error
            raise

    @property
    def listens(self) -> int:
        """How many times a listening session has started: a queue that reads the
        jobs it follows, and later finds the same number, missed no notification."""
        return self._hearing.listens

    async def listening_channels(self) -> set[str]:
        """The channels this store's listening session hears, as the server says."""
        return await self._hearing.channels()

    # ------------------------------------------------------------ jobs

    async def add(self, record: JobRecord) -> tuple[JobRecord, bool]:
        """Store a new job; if its key is taken, return the kept job and False instead."""
        (added,) = await self.add_many([record])
        return added

    async def add_many(self, records: list[JobRecord]) -> list[tuple[JobRecord, bool]]:
        """`add` each record, all in one commit (all or none)."""
        # Encode here, in the caller's task: a pickling error is the caller's.
        rows = [insert_row(record, self._memo) for record in records]
        await self._hearing.follow()
        blocked = any(record.after for record in records)
        atomic = len(records) > 1 or blocked
        # These jobs run as submitted in this process: known before the commit,
        # since a worker of this process may claim one before the add returns.
        live = self._live
        for record in records:
            live[record.id] = (record.function, record.args, record.kwargs)
        try:
            added = await self._add_until_done(records, rows, blocked=blocked, atomic=atomic)
        except BaseException:
            for record in records:
                live.pop(record.id, None)
            raise
        stored = {record.id for record, created in added if created}
        for record in records:
            if record.id not in stored:  # its key's kept job stands for it
                live.pop(record.id, None)
        return added

    async def _add_until_done(
        self,
        records: list[JobRecord],
        rows: list[tuple[object, ...]],
        *,
        blocked: bool,
        atomic: bool,
    ) -> list[tuple[JobRecord, bool]]:
        pause = _BUSY_PAUSE
        while True:
            try:
                # Lost during the call, the add runs again: the ids make it safe.
                return await self._pool.call(
                    self._plans.add(records, rows),
                    atomic=atomic,
                    again=lambda: self._plans.add(records, rows),
                )
            except Exception as error:
                # A prerequisite's row was locked by a commit in progress: the add
                # rolled back; try it again once that commit may have ended.
                if not blocked or getattr(error, "sqlstate", None) != LOCK_BUSY:
                    raise
            await anyio.sleep(pause)
            pause = min(pause * 2, _BUSY_PAUSE_MAX)

    async def claim(self, owner: str, limit: int, lease: float) -> list[JobRecord]:
        """Mark up to *limit* due waiting jobs running for *owner*: priority first, then FIFO."""
        records, _ = await self.claim_and_next_due(owner, limit, lease)
        return records

    async def claim_and_next_due(
        self, owner: str, limit: int, lease: float
    ) -> tuple[list[JobRecord], float | None]:
        """`claim`, and `next_due` of the jobs left waiting, in one round trip."""
        now = self.now()
        rows = await self._pool.call(_one(self._claim_sql, (now, limit, now, owner, now + lease)))
        due = rows[0][-2] if rows else None
        # The last two columns are the due time and the commit setting's; a row
        # whose seq is NULL stands for "none claimed".
        claimed = [row[:-2] for row in rows if row[0] is not None]
        records = self._records(claimed, load=self._live)
        records.sort(key=lambda r: (-r.priority, r.seq))
        return records, None if due is None else float(due)

    async def tell_started(self, records: list[JobRecord]) -> None:
        """Tell the followers of these running jobs in other processes that their
        attempts started (`watch`'s *changed*); the claim told nobody."""
        started = [(r.id, r.attempts, r.started_at or 0.0) for r in records]
        await self._pool.call(self._plans.started(started_notices(started, self._key)))

    async def save_progress(self, owner: str, progress: list[tuple[str, Progress]]) -> None:
        """Store the last progress of jobs *owner* runs, for their followers elsewhere."""
        rows: list[tuple[object, ...]] = [(encode_progress(p), i, owner) for i, p in progress]
        if rows:
            await self._pool.call(self._plans.save_progress(rows), atomic=True)

    async def save(self, record: JobRecord) -> None:
        """Commit a job's new state (never over a final state)."""
        await self.save_many([record])

    async def save_many(self, records: list[JobRecord]) -> list[JobRecord]:
        """`save` each record; wake other processes for retries; release or fail the
        dependents of the jobs that ended, in the commit that ends each (returns the
        failed ones). The jobs that never had a dependent commit first, in one
        statement; the others, in one transaction after."""
        # In id order, as `Dependencies.block` locks prerequisites: no deadlock between them.
        records = sorted(records, key=lambda record: record.id)
        wakes = any(record.status in WAITING for record in records)
        ended = [record.id for record in records if record.status.final]
        for job_id in ended:
            self._live.pop(job_id, None)
        if ended and not wakes:
            # Jobs that never had a dependent end in one statement, committed alone;
            # the others (or any already final) go on to the transaction below.
            rows = [state_row(r) for r in records]
            alone = await self._pool.call(
                save_ended(self.schema, rows, self._key, self._state_channel)
            )
            records = [record for record in records if record.id not in alone]
            ended = [job_id for job_id in ended if job_id not in alone]
            if not records:
                return []
        rows = [state_row(record) for record in records]
        atomic = len(rows) > 1 or wakes or bool(ended)
        failed = await self._pool.call(
            self._plans.save(rows, wakes, ended, self._key), atomic=atomic
        )
        return self._records(failed, load=False)

    async def cancel_waiting(self, job_id: str) -> JobRecord | None:
        """Cancel the job if it is waiting (queued or retrying); None if it is not."""
        rows = await self._pool.call(self._plans.cancel(job_id), atomic=True)
        if not rows:
            return None
        self._live.pop(job_id, None)
        return self._records(rows, load=False)[0]

    async def get(self, job_id: str) -> JobRecord | None:
        """The job with that id, or None (whose changes this process hears of from now on)."""
        await self._hearing.follow()
        found = await self.get_many([job_id])
        return found[0] if found else None

    async def get_many(self, job_ids: list[str]) -> list[JobRecord]:
        """The jobs with those ids that are kept, in no particular order."""
        rows = await self._pool.call(self._plans.get_many(job_ids))
        return self._records(rows, load=False)

    async def next_due(self) -> float | None:
        """When the earliest waiting job is due, or None if none waits."""
        ((due,),) = await self._pool.call(self._plans.next_due())
        return None if due is None else float(due)

    async def next_due_and_running(self) -> tuple[float | None, int]:
        """`next_due` and `running`, in one round trip."""
        ((due, count),) = await self._pool.call(self._plans.next_due_and_running())
        return None if due is None else float(due), int(count)

    async def counts(self) -> dict[JobStatus, int]:
        """How many jobs are in each status."""
        counts = dict.fromkeys(JobStatus, 0)
        rows = await self._pool.call(self._plans.counts())
        for status, count in rows:
            counts[JobStatus(status)] = int(count)
        return counts

    async def running(self) -> int:
        """How many jobs run, in every process (the partial index jobs_running)."""
        ((count,),) = await self._pool.call(self._plans.running())
        return int(count)

    async def failed(self, limit: int) -> list[JobRecord]:
        """The most recent jobs that failed for good (the dead letters)."""
        rows = await self._pool.call(self._plans.failed(limit))
        return self._records(rows, load=False)

    async def running_jobs(self, limit: int) -> list[JobRecord]:
        """Up to *limit* running jobs, the earliest started first (what dashboards show)."""
        rows = await self._pool.call(self._plans.running_jobs(limit))
        return self._records(rows, load=False)

    async def retry_failed(self, job_id: str) -> JobRecord | None:
        """Queue a failed job again, due now, as if new; None if it is not failed."""
        rows = await self._pool.call(self._plans.retry(job_id), atomic=True)
        return self._records(rows, load=False)[0] if rows else None

    async def renew(self, owner: str, job_ids: list[str], lease: float) -> None:
        """Extend the leases of the jobs *owner* is running."""
        if job_ids:
            await self._pool.call(self._plans.renew(owner, job_ids, self.now() + lease))

    async def release(self, owner: str) -> int:
        """Put the jobs *owner* was running back in the queue (its attempts were lost)."""
        return await self._pool.call(self._plans.requeue_running("owner = %s", (owner,)))

    async def reclaim_expired(self) -> int:
        """Put running jobs whose lease expired, or whose owner's lock is free (its
        process died), back in the queue; return how many."""
        hearing, now = self._hearing, self.now()
        orphans = hearing.locks_settled(now, _postgres_plans.RESTART_GRACE)
        return await self._pool.call(
            self._plans.reclaim_expired(now, hearing.owner, orphans=orphans)
        )

    async def waiting(self) -> list[str]:
        """The ids of the waiting (queued or retrying) jobs, in no particular order."""
        rows = await self._pool.call(self._plans.waiting())
        return [str(job_id) for (job_id,) in rows]

    async def purge(self, older_than: float) -> int:
        """Delete final jobs that finished more than *older_than* seconds ago."""
        ((count,),) = await self._pool.call(self._plans.purge(self.now() - older_than))
        return int(count)

    # ------------------------------------------------------------ rows

    def _records(self, rows: list[Row], load: Load) -> list[JobRecord]:
        return [record_of(row, load=load, memo=self._memo) for row in rows]
