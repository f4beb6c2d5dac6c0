"""The PostgreSQL store's schema, its migrations and its statements; knows no connection.

Every name is qualified by the store's schema (``actorlib`` unless the URL
says ``?schema=...``), so two applications, or two tests, share a database
without seeing each other's jobs. Times are float seconds, as in the SQLite
store and the job records.
"""

from __future__ import annotations

import re

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
)

FINAL_SQL = "status IN ('succeeded', 'failed', 'cancelled')"
INSERT_COLUMNS = (
    "id, key, name, function, arguments, executor, priority, timeout, retry, status, "
    "run_at, created_at, trace"
)


def quoted(schema: str) -> str:
    """The schema as an SQL identifier (its name is checked against SCHEMA_NAME)."""
    return f'"{schema}"'


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
    notify each claimed job's id on the state channel (at commit); and say when
    the earliest job left waiting is due.

    One statement in READ COMMITTED: the MATERIALIZED CTE picks and locks the
    rows (walking ``jobs_waiting`` in order), skipping rows another claim has
    locked, so two processes never take the same job; the planner cannot
    turn the LIMIT into a nested loop that updates more rows (Oban's note).
    Each claimed row comes back with two more columns: the notification's
    (empty) and the due time; with no row claimed, one row of NULLs but the
    due time (NULL too if no job waits). The due time is read in the
    statement's snapshot, where the picked rows still wait, so they are left
    out; a row another claim holds is not, so that claim's commit is looked
    at again soon (as a separate query after the claim would).
    Parameters: now, limit, now, owner, lease_until, state channel.
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
        f"SELECT claimed.*, CASE WHEN claimed.id IS NOT NULL "
        f"THEN pg_notify(%s, claimed.id)::text END, later.due "
        f"FROM later LEFT JOIN claimed ON true"
    )


def notify(channel: str) -> Statement:
    """Wake the listeners at commit (one notification per transaction: ids are not sent)."""
    return Statement("SELECT pg_notify(%s, '')", (channel,))
