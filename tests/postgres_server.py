"""A PostgreSQL database for the tests: made fresh for the run on the server the
environment names, always dropped at the end.

``ACTORLIB_TEST_POSTGRES`` names the server (default
``postgresql://postgres@127.0.0.1:5432/postgres``; the user must be allowed to
create databases). Without a server the PostgreSQL tests are skipped, with the
reason; under ``CI=true`` they fail instead: CI has a server, and a silent skip
would hide that nothing ran.
"""

from __future__ import annotations

import os
import time
import urllib.parse
import uuid
from collections.abc import Iterator

import anyio.to_thread
import pytest

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() in ("true", "1"):
        pytest.fail(f"PostgreSQL is required under CI=true: {reason}")
    pytest.skip(f"no PostgreSQL for the tests ({reason}); set ACTORLIB_TEST_POSTGRES")


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """The URL of a database made for this test run (dropped afterwards)."""
    server = os.environ.get("ACTORLIB_TEST_POSTGRES", DEFAULT_URL)
    try:
        import psycopg
    except ImportError:
        unavailable("psycopg is not installed: pip install -e '.[test]'")
        raise  # unreachable: unavailable raises
    try:
        admin = psycopg.connect(server, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as error:
        unavailable(f"cannot connect to {server}: {str(error).strip()}")
        raise
    name = f"actorlib_test_{uuid.uuid4().hex[:10]}"
    try:
        admin.execute(f'CREATE DATABASE "{name}"')
        parts = urllib.parse.urlsplit(server)
        yield urllib.parse.urlunsplit(parts._replace(path=f"/{name}"))
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture
def postgres_url(postgres_database: str) -> str:
    """A store URL with a schema of its own for this test."""
    return f"{postgres_database}?schema=t_{uuid.uuid4().hex[:12]}"


async def sql(url: str, query: str, *params: object) -> list[tuple[object, ...]]:
    """Run one statement on a connection of its own (as another process would), in a
    thread; *url* may carry a store's ``?schema=``, which is left out."""
    import psycopg

    def run() -> list[tuple[object, ...]]:
        with psycopg.connect(url.partition("?")[0], autocommit=True) as conn:
            cursor = conn.execute(query, params)
            return cursor.fetchall() if cursor.description else []

    return await anyio.to_thread.run_sync(run)


def end_sessions(url: str, application_name: str = "%") -> int:
    """End the database's client sessions whose application name is LIKE
    *application_name* (all by default), as a failover to a standby or an
    operator's ``pg_terminate_backend`` does; the server runs on. Returns once
    they have ended; how many did. *url* may carry a store's ``?schema=``."""
    import psycopg

    with psycopg.connect(url.partition("?")[0], autocommit=True) as connection:
        # Signalled all at once, as a crash or a failover ends them, not one by one.
        cursor = connection.execute(
            "SELECT array_agg(pid) FILTER (WHERE pg_terminate_backend(pid)) "
            "FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND backend_type = 'client backend' "
            "AND application_name LIKE %s",
            (application_name,),
        )
        ((pids,),) = cursor.fetchall()
        pids = pids or []
        deadline = time.monotonic() + 10
        while connection.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s)", (pids,)
        ).fetchone() != (0,):
            assert time.monotonic() < deadline, "the sessions did not end"
            time.sleep(0.01)
        return len(pids)
