"""The PostgreSQL store's connections: none left open by an open that failed or by a
close during a call, and a clear error for a call after close."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import anyio
import pytest

from actorlib.jobs import JobStoreUnavailableError, PostgresStore
from actorlib.jobs._postgres_link import one
from tests.postgres_server import sql

pytestmark = pytest.mark.anyio


async def sessions_end(url: str, where: str, *params: object) -> int:
    """The server's sessions matching *where*, once none is left (or after 10 s)."""
    query = f"SELECT count(*) FROM pg_stat_activity WHERE {where}"
    # No event tells when a closed session's backend has exited: ask the server.
    with anyio.move_on_after(10):
        while (count := (await sql(url, query, *params))[0][0]) != 0:  # noqa: ASYNC110
            await anyio.sleep(0.02)
    assert isinstance(count, int)
    return count


@pytest.fixture
async def role_of_one_connection(postgres_url: str) -> AsyncIterator[str]:
    """A login role the server lets open one connection at a time."""
    role = f"actorlib_one_{uuid.uuid4().hex[:10]}"
    await sql(postgres_url, f'CREATE ROLE "{role}" LOGIN CONNECTION LIMIT 1')
    try:
        yield role
    finally:
        await sessions_end(postgres_url, "usename = %s", role)
        await sql(postgres_url, f'DROP ROLE IF EXISTS "{role}"')


async def test_an_open_refused_its_second_connection_closes_the_first(
    postgres_url: str, role_of_one_connection: str
) -> None:
    import psycopg

    role = role_of_one_connection
    url = postgres_url.replace("postgresql://postgres@", f"postgresql://{role}@", 1)
    assert role in url
    store = PostgresStore(url, connections=2)
    with pytest.raises(JobStoreUnavailableError, match="too many connections") as refused:
        await store.open("owner")
    # While the error (and its frames) is still alive: no link of the store is left open.
    assert await sessions_end(postgres_url, "usename = %s", role) == 0
    assert isinstance(refused.value.__cause__, psycopg.OperationalError)


async def test_a_call_after_close_says_the_store_is_not_open(postgres_url: str) -> None:
    store = PostgresStore(postgres_url, connections=1)
    await store.open("owner")
    await store.close()
    with pytest.raises(RuntimeError, match=r"the job store .* is not open"):
        await store.counts()


async def test_a_link_in_use_when_the_store_closes_is_closed_when_its_call_ends(
    postgres_url: str,
) -> None:
    store = PostgresStore(postgres_url, connections=1)
    await store.open("owner")
    name = f"actorlib.jobs {store.schema}"
    released = anyio.Event()
    async with anyio.create_task_group() as tasks:

        async def sleeping_call() -> None:
            await store._pool.call(one("SELECT pg_sleep(0.3)"))
            released.set()

        tasks.start_soon(sleeping_call)
        with anyio.fail_after(10):  # the call is running on the server
            while not await sql(  # noqa: ASYNC110 (the server's state: no event)
                postgres_url,
                "SELECT 1 FROM pg_stat_activity WHERE application_name = %s AND "
                "state = 'active' AND query LIKE 'SELECT pg_sleep%%'",
                name,
            ):
                await anyio.sleep(0.01)
        await store.close()
    assert released.is_set()
    assert await sessions_end(postgres_url, "application_name = %s", name) == 0
