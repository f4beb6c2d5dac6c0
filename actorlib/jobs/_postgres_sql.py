"""The PostgreSQL store's schema, its migrations and its statements; knows no connection.

Every name is qualified by the store's schema (``actorlib`` unless the URL
says ``?schema=...``), so two applications, or two tests, share a database
without seeing each other's jobs. Times are float seconds, as in the SQLite
store and the job records.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import re

from . import _codec
from ._model import JobChange, JobStatus
from ._postgres_link import Plan, Statement
from ._sqlite_rows import COLUMNS, READY_SQL

SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,47}")

#: The migrations, in order: version n is MIGRATIONS[n - 1]. Append, never edit.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE {schema}.jobs (
            seq bigserial PRIMARY KEY,
            id text NOT NULL UNIQUE,
            key text UNIQUE,
            name text NOT NULL,
            function bytea NOT NULL,
            arguments bytea NOT NULL,
            executor text NOT NULL,
            priority integer NOT NULL,
            timeout double precision,
            retry bytea NOT NULL,
            status text NOT NULL CHECK (status IN
                ('queued', 'running', 'retrying', 'succeeded', 'failed', 'cancelled')),
            run_at double precision NOT NULL,
            attempts integer NOT NULL DEFAULT 0,
            result bytea,
            error bytea,
            progress bytea,
            created_at double precision NOT NULL,
            started_at double precision,
            finished_at double precision,
            owner text,
            lease_until double precision
        )""",
        # The claim walks this index in order and stops at its LIMIT.
        "CREATE INDEX jobs_waiting ON {schema}.jobs (priority DESC, seq) "
        "WHERE status IN ('queued', 'retrying')",
        "CREATE INDEX jobs_due ON {schema}.jobs (run_at) WHERE status IN ('queued', 'retrying')",
        "CREATE INDEX jobs_running ON {schema}.jobs (lease_until) WHERE status = 'running'",
        "CREATE INDEX jobs_finished ON {schema}.jobs (finished_at) "
        "WHERE status IN ('succeeded', 'failed', 'cancelled')",
    ),
    # 2: submit(..., after=...). A blocked job is queued with blockers > 0 (the
    # claim skips it) and one edge per prerequisite that has not ended.
    (
        "ALTER TABLE {schema}.jobs ADD COLUMN blockers integer NOT NULL DEFAULT 0",
        """CREATE TABLE {schema}.dependencies (
            prerequisite text NOT NULL,
            dependent text NOT NULL,
            PRIMARY KEY (prerequisite, dependent)
        )""",
    ),
    # 3: tracing. The trace context of the job's submit (a W3C traceparent), so
    # an attempt on any host continues the trace; NULL while tracing is off.
    ("ALTER TABLE {schema}.jobs ADD COLUMN trace text",),
    # 4: how many dependents a job was ever given. An outcome of a job with none
    # (nearly every job) is one statement, with no transaction around it to
    # settle dependents: one round trip, not four.
    (
        "ALTER TABLE {schema}.jobs ADD COLUMN dependents integer NOT NULL DEFAULT 0",
        "UPDATE {schema}.jobs AS j SET dependents = d.count FROM (SELECT prerequisite, "
        "count(*) AS count FROM {schema}.dependencies GROUP BY prerequisite) AS d "
        "WHERE j.id = d.prerequisite",
    ),
    # 5: the key that signs the state notices that say what changed (`state_notice`).
    # Any role that can connect can NOTIFY: only one that can read this table (as
    # one that can write the jobs can) makes a notice that a follower believes.
    # 2 x 122 random bits from gen_random_uuid (core since PostgreSQL 13).
    (
        "CREATE TABLE {schema}.notice_key (key bytea NOT NULL)",
        "INSERT INTO {schema}.notice_key SELECT decode(replace("
        "gen_random_uuid()::text || gen_random_uuid()::text, '-', ''), 'hex')",
    ),
)

FINAL_SQL = "status IN ('succeeded', 'failed', 'cancelled')"
#: COLUMNS as a job is read to be shown (a handle, a look-up, a list), not run: its
#: function and arguments, never unpickled for that, stay on the server.
SHOWN_COLUMNS = COLUMNS.replace("function, arguments", "NULL AS function, NULL AS arguments")
assert SHOWN_COLUMNS != COLUMNS
INSERT_COLUMNS = (
    "id, key, name, function, arguments, executor, priority, timeout, retry, status, "
    "run_at, created_at, trace"
)


def quoted(schema: str) -> str:
    """The schema as an SQL identifier (its name is checked against SCHEMA_NAME)."""
    return f'"{schema}"'


def version_of(schema: str) -> Plan[int | None]:
    """The version of the store's tables in *schema*; None if there are none."""
    name = quoted(schema)
    ((table,),) = yield Statement("SELECT to_regclass(%s)::text", (f"{name}.schema_version",))
    if table is None:
        return None
    ((have,),) = yield Statement(f"SELECT coalesce(max(version), 0) FROM {name}.schema_version")
    return int(have)


def migrate(schema: str, lock_key: str) -> Plan[list[int]]:
    """Bring the schema to the last version; return the versions applied.

    Run in one transaction: the advisory lock makes concurrent openers wait
    for the first one's commit, after which they find nothing to do
    (``IF NOT EXISTS`` alone is not safe against a concurrent creator).
    """
    name = quoted(schema)
    yield Statement("SELECT pg_advisory_xact_lock(hashtext(%s))", (lock_key,))
    yield Statement(f"CREATE SCHEMA IF NOT EXISTS {name}")
    yield Statement(
        f"CREATE TABLE IF NOT EXISTS {name}.schema_version ("
        "version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
    )
    ((have,),) = yield Statement(f"SELECT coalesce(max(version), 0) FROM {name}.schema_version")
    applied: list[int] = []
    for version, steps in enumerate(MIGRATIONS, start=1):
        if version <= have:
            continue
        for step in steps:
            yield Statement(step.format(schema=name))
        yield Statement(f"INSERT INTO {name}.schema_version (version) VALUES (%s)", (version,))
        applied.append(version)
    return applied


def claim_sql(schema: str) -> str:
    """Mark up to LIMIT due waiting jobs running, highest priority first, then FIFO;
    and say when the earliest job left waiting is due.

    One statement in READ COMMITTED: the MATERIALIZED CTE picks and locks the
    rows (walking ``jobs_waiting`` in order), skipping rows another claim has
    locked, so two processes never take the same job; the planner cannot
    turn the LIMIT into a nested loop that updates more rows (Oban's note).
    Each claimed row comes back with two more columns: the due time and the
    setting below's; with no row claimed, one row of NULLs but the due time
    (NULL too if no job waits). The due time is read in the statement's
    snapshot, where the picked rows still wait, so they are left out; a row
    another claim holds is not, so that claim's commit is looked at again
    soon (as a separate query after the claim would).

    The claim notifies nobody: followers elsewhere hear that an attempt
    started from the worker once it has run a while (`started_notices`), or
    from its outcome's notice, which says when it started. Most jobs end
    sooner: a notification per claim cost every listening session of the
    database a wake-up, and the producers one more read, for a state that
    lasted a millisecond.

    The claim's commit does not wait for the server's WAL flush
    (``synchronous_commit`` off for its transaction alone): a claim lost in a
    crash of the server leaves its job queued, as a worker that died would
    (its attempt uncounted; it runs again), and the outcome's commit, which
    does wait, flushes the claim with it. Every other change waits.
    Parameters: now, limit, now, owner, lease_until.
    """
    name = quoted(schema)
    returning = ", ".join(f"j.{column.strip()}" for column in COLUMNS.split(","))
    return (
        f"WITH picked AS MATERIALIZED (SELECT seq FROM {name}.jobs WHERE {READY_SQL} "
        f"AND run_at <= %s ORDER BY priority DESC, seq LIMIT %s FOR UPDATE SKIP LOCKED), "
        f"claimed AS (UPDATE {name}.jobs AS j SET status = 'running', "
        f"attempts = j.attempts + 1, started_at = %s, owner = %s, lease_until = %s "
        f"FROM picked WHERE j.seq = picked.seq RETURNING {returning}), "
        f"later AS (SELECT min(run_at) AS due FROM {name}.jobs WHERE {READY_SQL} "
        f"AND seq NOT IN (SELECT seq FROM picked)) "
        f"SELECT claimed.*, later.due, set_config('synchronous_commit', 'off', true) "
        f"FROM later LEFT JOIN claimed ON true"
    )


#: `state_row`'s columns in order, each with its SQL type (`save_ended_sql` casts its first row).
_STATE_COLUMNS = (
    ("status", "text"),
    ("run_at", "float8"),
    ("attempts", "int4"),
    ("result", "bytea"),
    ("error", "bytea"),
    ("progress", "bytea"),
    ("started_at", "float8"),
    ("finished_at", "float8"),
    ("owner", "text"),
    ("lease_until", "float8"),
    ("id", "text"),
)


@functools.lru_cache(maxsize=256)
def save_ended_sql(schema: str, jobs: int) -> str:
    """Save the new states of *jobs* jobs that were never given a dependent, never
    over a final state; notify each saved job's notice on the state channel (at
    commit); return the saved ids (with the notification's column).

    One statement for the outcomes of one flush, committed once: a pipeline of
    one UPDATE per job cost the client and the server a statement each.
    Parameters: for each job, `state_row`'s and its notice (`state_notice`);
    then the state channel. The rows are a VALUES list, one statement text per
    count: a flush holds at most one outcome per worker, and a list's length
    is known to the planner, which then keeps a generic plan (an ``unnest`` of
    arrays was planned anew at every run: measured, 600 custom plans in 600
    runs, at 0.64 ms a statement against 0.41).
    """
    name = quoted(schema)
    first = ", ".join(f"%s::{kind}" for _, kind in _STATE_COLUMNS)
    rows = [f"({first}, %s::text)"] + [f"({', '.join(['%s'] * (len(_STATE_COLUMNS) + 1))})"] * (
        jobs - 1
    )
    names = ", ".join(column for column, _ in _STATE_COLUMNS)
    sets = ", ".join(f"{column} = r.{column}" for column, _ in _STATE_COLUMNS[:-1])
    return (
        f"WITH saved AS (UPDATE {name}.jobs AS j SET {sets} "
        f"FROM (VALUES {', '.join(rows)}) AS r({names}, notice) "
        f"WHERE j.id = r.id AND NOT j.{FINAL_SQL} AND j.dependents = 0 "
        f"RETURNING j.id, r.notice) "
        f"SELECT id, pg_notify(%s, notice)::text FROM saved"
    )


#: Outcomes per statement of `save_ended` (each a row of 12 parameters).
ROWS_PER_SAVE = 256


def save_ended(
    schema: str, rows: list[tuple[object, ...]], key: NoticeKey, channel: str
) -> Plan[set[str]]:
    """Save the `state_row`s of jobs never given a dependent (`save_ended_sql`), each
    told on *channel*; return the ids saved (the others have dependents, or ended)."""
    saved: set[str] = set()
    for start in range(0, len(rows), ROWS_PER_SAVE):
        chunk = rows[start : start + ROWS_PER_SAVE]
        params = [v for row in chunk for v in (*row, state_notice(row, key))]
        found = yield Statement(save_ended_sql(schema, len(chunk)), (*params, channel))
        saved.update(str(job_id) for job_id, _ in found)
    return saved


def notify(channel: str, payload: str = "") -> Statement:
    """Wake the listeners at commit (one notification per transaction and payload:
    ids are not sent)."""
    return Statement("SELECT pg_notify(%s, %s)", (channel, payload))


# ------------------------------------------------------------ state notices
#
# A state notification's payload is a comma-separated list of job ids, each
# followed by an optional notice of what changed, which starts with "~" (never
# in a job id): ``<id>,~r:<attempts>:<started_at>:<tag>`` (an attempt started)
# or ``<id>,~s:<attempts>:<started_at>:<finished_at>:<result>:<tag>``
# (succeeded; the pickled result in base64, empty for None). The tag is an
# HMAC-SHA256 of ``<id>,~...`` (all but ``:<tag>``), with the schema's notice
# key, cut to 22 base64 characters (132 bits): any role that can connect may
# NOTIFY, so a follower applies only a notice whose tag is right, and reads
# the row of an id that comes without one (any other change: a failure, a
# retry, progress...) or with a wrong one. A reader that knows only ids (an
# older version) reads every id and finds no job named by a notice.

_TOLD = "~"
_STARTED = "r"
_SUCCEEDED = "s"
_TAG_CHARS = 22
#: The largest pickled result a notice carries (base64 makes it a third longer;
#: a payload must stay under 8000 bytes); a larger one is read from the row.
NOTICE_RESULT_BYTES = 1024
#: A notification payload's bound, with room to spare (the server's is 8000 bytes).
_PAYLOAD_BYTES = 7000


class NoticeKey:
    """The schema's notice key (`MIGRATIONS` 5): signs and checks state notices."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def tag(self, notice: str) -> str:
        digest = hmac.new(self._key, notice.encode(), hashlib.sha256).digest()
        return base64.b64encode(digest).decode("ascii")[:_TAG_CHARS]

    def signed(self, notice: str) -> str:
        """*notice* (``<id>,~...``) with its tag."""
        return f"{notice}:{self.tag(notice)}"

    def checked(self, notice: str) -> str | None:
        """*notice* without its tag if the tag is right, else None."""
        body, _, tag = notice.rpartition(":")
        return body if body and hmac.compare_digest(tag, self.tag(body)) else None


def started_suffix(now: float) -> str:
    """What follows the attempts in the notice of an attempt started at *now*."""
    return f":{now!r}"


def started_notices(started: list[tuple[str, int, float]], key: NoticeKey) -> list[str]:
    """The notification payloads that tell these attempts started (job id, attempt,
    start time each), signed, several to a payload (each under 8000 bytes)."""
    notices = [
        key.signed(f"{job_id},{_TOLD}{_STARTED}:{attempts}{started_suffix(at)}")
        for job_id, attempts, at in started
    ]
    payloads: list[str] = []
    for notice in notices:
        if payloads and len(payloads[-1]) + len(notice) < _PAYLOAD_BYTES:
            payloads[-1] += f",{notice}"
        else:
            payloads.append(notice)
    return payloads


def state_notice(row: tuple[object, ...], key: NoticeKey) -> str:
    """The notification payload of a `state_row`: the id, and the signed notice of a
    success whose result is small (no progress to show: a follower reads that)."""
    status, _, attempts, result, error, progress, started, finished = row[:8]
    job_id = str(row[-1])
    if status != JobStatus.SUCCEEDED.value or error is not None or progress is not None:
        return job_id
    if not isinstance(result, bytes | None) or (result and len(result) > NOTICE_RESULT_BYTES):
        return job_id
    encoded = "" if result is None else base64.b64encode(result).decode("ascii")
    return key.signed(f"{job_id},{_TOLD}{_SUCCEEDED}:{attempts}:{started!r}:{finished!r}:{encoded}")


def parse_state_payloads(payloads: list[str], key: NoticeKey) -> list[str | JobChange]:
    """The changes the payloads tell, in order: a `JobChange` where a rightly signed
    notice came with the id, else the id alone (read its row)."""
    changes: list[str | JobChange] = []
    for payload in payloads:
        for item in payload.split(","):
            if not item.startswith(_TOLD):
                if item:
                    changes.append(item)
            elif changes and isinstance(changes[-1], str):
                body = key.checked(f"{changes[-1]},{item}")
                told = (
                    None
                    if body is None
                    else _parse_notice(changes[-1], item[1:].rpartition(":")[0])
                )
                if told is not None:
                    changes[-1] = told
    return changes


def _parse_notice(job_id: str, notice: str) -> JobChange | None:
    kind, _, rest = notice.partition(":")
    fields = rest.split(":")
    try:  # a result that does not unpickle here fails where the row's read does
        if kind == _STARTED and len(fields) == 2:
            return JobChange(job_id, JobStatus.RUNNING, int(fields[0]), float(fields[1]))
        if kind == _SUCCEEDED and len(fields) == 4:
            attempts, started, finished, encoded = fields
            result = _codec.decode(base64.b64decode(encoded)) if encoded else None
            return JobChange(
                job_id,
                JobStatus.SUCCEEDED,
                int(attempts),
                None if started == "None" else float(started),
                float(finished),
                result,
            )
    except (ValueError, binascii.Error):
        return None
    except Exception:  # unpickling: the read of the row says what went wrong
        return None
    return None  # a notice of a later version: read the row
