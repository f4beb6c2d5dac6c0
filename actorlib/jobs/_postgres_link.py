"""One PostgreSQL connection and how a store's plans run on it; knows SQL, not jobs.

The store writes each operation once, as a *plan*: a generator that yields
`Statement` objects and receives each one's rows. A `Link` runs plans on one
psycopg connection, in one of two ways (the connection-runner seam):

- `AsyncLink`, on asyncio: psycopg's ``AsyncConnection`` on the event loop.
- `ThreadLink`, on trio (psycopg's async connection needs an asyncio loop):
  the same package's blocking connection, driven in ``anyio.to_thread``.

So the SQL and the logic between statements exist once, and only the few
lines that wait for the server differ.
"""

from __future__ import annotations

import asyncio
import functools
import select
import sys
from collections.abc import Generator, Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import anyio
import anyio.lowlevel
import anyio.to_thread
import attrs

if TYPE_CHECKING:
    import psycopg

T = TypeVar("T")

Row = tuple[Any, ...]


@attrs.frozen
class Statement:
    """One SQL statement of a plan: run with *params*, or once per entry of *many*
    (pipelined, one round trip), whose rows then come back concatenated."""

    query: str
    params: Sequence[object] | None = None
    many: Sequence[Sequence[object]] | None = None

    @property
    def one(self) -> Sequence[object] | None:
        """The parameters of a statement run once: *params*, or the only entry of
        *many* (a pipeline for one row costs several times a plain execute)."""
        return self.many[0] if self.many is not None and len(self.many) == 1 else self.params


@attrs.frozen
class Notice:
    """One notification: the sender's backend pid, its channel and its payload."""

    pid: int
    channel: str
    payload: str


#: A store operation: yields statements, receives each one's rows, returns its answer.
Plan = Generator[Statement, list[Row], T]

#: How long a blocking wait for notifications lasts before it looks for cancellation.
_THREAD_NOTIFY_WAIT = 0.1


class Link(Protocol):
    """One connection, used by one plan at a time."""

    backend_pid: int

    @property
    def broken(self) -> bool:
        """True once the connection was lost: the link is of no further use."""
        ...

    def ended_by_server(self) -> bool:
        """True if the server ended the connection while it was idle (see `_LinkBase`)."""
        ...

    async def run(self, plan: Plan[T], *, atomic: bool) -> T:
        """Run *plan* to its end, in one transaction if *atomic*, else each
        statement committing on its own; never interrupted once it started."""
        ...

    async def wait_notifies(self) -> list[Notice]:
        """Wait for notifications on the channels this connection listens to;
        return them (at least one)."""
        ...

    async def close(self) -> None:
        """Close the connection."""
        ...


def driver() -> Any:
    """The psycopg module.

    Raises:
        ImportError: psycopg 3 is not installed; the message names the extra.
    """
    try:
        import psycopg
    except ImportError as error:
        raise ImportError(
            "the PostgreSQL job store needs the psycopg 3 driver, which is not installed; "
            "install the extra: pip install 'actorlib[postgres]'"
        ) from error
    return psycopg


#: SQLSTATE classes and codes that mean the server cannot be reached now: a
#: connection exception, an operator's intervention (shutdown, crash, starting up),
#: too many connections.
_UNREACHABLE_STATES = ("08", "57P", "53300")


def lost_server(error: BaseException) -> bool:
    """Whether *error* (psycopg's) means that the server cannot be reached now (down,
    restarting, cut off, the connection lost), not that a statement failed (a lock
    not available, a deadlock, a serialization failure: the caller's to handle)."""
    psycopg = sys.modules.get("psycopg")
    if psycopg is None:
        return False
    if isinstance(error, psycopg.InterfaceError):  # a connection that is closed
        return True
    if not isinstance(error, psycopg.OperationalError):
        return False
    state = getattr(error, "sqlstate", None)
    return state is None or state.startswith(_UNREACHABLE_STATES)


def _psycopg_async_works() -> bool:
    """psycopg's AsyncConnection needs an asyncio loop, and not the Windows proactor."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return False
    proactor = getattr(asyncio, "ProactorEventLoop", None)
    return not (sys.platform == "win32" and proactor and isinstance(loop, proactor))


async def connect(conninfo: str, setup: Sequence[Statement]) -> Link:
    """Open a link for the running event loop, in autocommit mode, and run *setup*.

    Raises:
        ImportError: psycopg is not installed.
        psycopg.OperationalError: the server cannot be reached.
    """
    psycopg = driver()
    if _psycopg_async_works():
        conn = await psycopg.AsyncConnection.connect(conninfo, autocommit=True)
        link: Link = AsyncLink(conn)
    else:
        conn = await anyio.to_thread.run_sync(
            functools.partial(psycopg.Connection.connect, conninfo, autocommit=True)
        )
        link = ThreadLink(conn)
    try:
        await link.run(statements(setup), atomic=False)
    except BaseException:
        with anyio.CancelScope(shield=True):
            await link.close()
        raise
    return link


async def acquire(lock: anyio.Lock | anyio.Semaphore) -> None:
    """Acquire *lock* (or the semaphore), at once when it is free.

    ``async with`` also yields to the event loop when it is free (a round of
    the loop, with its poll of the sockets, per statement); acquiring it
    directly is as fair, since a release hands it to a waiter first.
    """
    try:
        lock.acquire_nowait()
    except anyio.WouldBlock:
        await lock.acquire()


def _has_rows(cursor: psycopg.AsyncCursor[Row] | psycopg.Cursor[Row]) -> bool:
    """Whether the cursor's current result has rows to fetch (`cursor.description`
    says the same, but builds a column object per column to say it)."""
    result = cursor.pgresult
    return result is not None and (result.nfields > 0 or result.status == _TUPLES_OK)


#: psycopg.pq.ExecStatus.TUPLES_OK, without importing psycopg before the store opens.
_TUPLES_OK = 2


def statements(setup: Sequence[Statement]) -> Plan[None]:
    """A plan of these statements in turn, answering nothing."""
    # Not `yield from setup`: a list iterator cannot take the rows sent back.
    for statement in setup:  # noqa: UP028
        yield statement


def one(query: str, params: Sequence[object] | None = None) -> Plan[list[Row]]:
    """A plan of one statement, answering its rows."""
    return only(Statement(query, params))


def only(statement: Statement) -> Plan[list[Row]]:
    """A plan of *statement* alone, answering its rows."""
    rows = yield statement
    return rows


class _LinkBase:
    """What both kinds of link share: the connection, its server process, one user at a time."""

    conn: psycopg.AsyncConnection[Row] | psycopg.Connection[Row]

    def __init__(self, conn: psycopg.AsyncConnection[Row] | psycopg.Connection[Row]) -> None:
        self.conn = conn
        self.backend_pid = conn.info.backend_pid
        self._lock = anyio.Lock()

    @property
    def broken(self) -> bool:
        return bool(self.conn.broken)

    def ended_by_server(self) -> bool:
        """Whether the server ended this idle connection (it shut down, restarted or
        killed the session): its socket has something to read while no statement
        runs, which on a link that listens to nothing means the server's farewell
        or the end of the stream. One poll of the socket; checked before each call,
        so the first call after a restart of the server does not fail on it."""
        if self.conn.closed or self.conn.broken:
            return True
        try:
            readable, _, _ = select.select([self.conn.pgconn.socket], [], [], 0)
        except (OSError, ValueError, RuntimeError):  # psycopg: no socket any more
            return True
        return bool(readable)


class AsyncLink(_LinkBase):
    """A psycopg AsyncConnection on the asyncio loop.

    Notifications are read by a callback on the socket, registered from the
    first wait until the next statement, and kept until a wait takes them:
    psycopg's ``notifies()`` took a lock, a generator and a reader
    registration per wait, about twice the CPU per notification (measured:
    110 against 40 us a wake-up). Those that arrive with a statement's results
    reach the same list through psycopg's notify handler.
    """

    conn: psycopg.AsyncConnection[Row]

    def __init__(self, conn: psycopg.AsyncConnection[Row]) -> None:
        super().__init__(conn)
        self._notices: list[Notice] = []
        self._encoding = conn.info.encoding
        # The socket, while the reader callback is registered on it.
        self._reading: int | None = None
        # Failed reading the socket: the next wait raises it.
        self._read_error: Exception | None = None
        # Set by the reader when notifications arrive for a waiting `wait_notifies`.
        self._arrived: asyncio.Future[None] | None = None
        conn.add_notify_handler(self._handled)

    def _handled(self, notify: psycopg.Notify) -> None:
        self._notices.append(Notice(notify.pid, notify.channel, notify.payload))

    def _readable(self) -> None:
        pgconn = self.conn.pgconn
        try:
            pgconn.consume_input()
        except Exception as error:  # the connection is lost: tell the waiter
            self._stop_reading()
            self._read_error = error
        else:
            encoding = self._encoding
            while (n := pgconn.notifies()) is not None:
                self._notices.append(
                    Notice(n.be_pid, n.relname.decode(encoding), n.extra.decode(encoding))
                )
        arrived = self._arrived
        if arrived is not None and (self._notices or self._read_error) and not arrived.done():
            arrived.set_result(None)

    def _stop_reading(self) -> None:
        if self._reading is not None:
            asyncio.get_running_loop().remove_reader(self._reading)
            self._reading = None

    async def run(self, plan: Plan[T], *, atomic: bool) -> T:
        await anyio.lowlevel.checkpoint_if_cancelled()
        await acquire(self._lock)
        try:
            self._stop_reading()  # psycopg waits on the socket itself
            # Shielded: a statement cut off halfway leaves the connection unusable,
            # and the caller not knowing whether it committed.
            with anyio.CancelScope(shield=True):
                return await self._run(plan, atomic)
            raise AssertionError("unreachable: a shielded scope swallows no cancellation")
        finally:
            self._lock.release()

    async def _run(self, plan: Plan[T], atomic: bool) -> T:
        if not atomic:
            return await self._drive(plan)
        async with self.conn.transaction():
            return await self._drive(plan)

    async def _drive(self, plan: Plan[T]) -> T:
        cursor = self.conn.cursor()
        try:
            statement = next(plan)
            while True:
                if statement.many is not None and len(statement.many) != 1:
                    await cursor.executemany(statement.query, statement.many, returning=True)
                    rows: list[Row] = []
                    while True:
                        if _has_rows(cursor):
                            rows += await cursor.fetchall()
                        if not cursor.nextset():
                            break
                else:
                    await cursor.execute(statement.query, statement.one)
                    rows = await cursor.fetchall() if _has_rows(cursor) else []
                statement = plan.send(rows)
        except StopIteration as done:
            result: T = done.value
            return result
        finally:
            await cursor.close()

    async def wait_notifies(self) -> list[Notice]:
        await acquire(self._lock)
        try:
            if self._reading is None and self._read_error is None:
                self._reading = self.conn.pgconn.socket
                asyncio.get_running_loop().add_reader(self._reading, self._readable)
                self._readable()  # what came since the last statement
            while not self._notices and self._read_error is None:
                self._arrived = asyncio.get_running_loop().create_future()
                try:
                    await self._arrived
                finally:
                    self._arrived = None
            if self._read_error is not None and not self._notices:
                raise self._read_error
            notices, self._notices = self._notices, []
            return notices
        finally:
            self._lock.release()

    async def close(self) -> None:
        self._stop_reading()
        await self.conn.close()


class ThreadLink(_LinkBase):
    """A blocking psycopg Connection, used from a worker thread (trio)."""

    conn: psycopg.Connection[Row]

    def __init__(self, conn: psycopg.Connection[Row]) -> None:
        super().__init__(conn)

    async def run(self, plan: Plan[T], *, atomic: bool) -> T:
        await anyio.lowlevel.checkpoint_if_cancelled()
        await acquire(self._lock)
        try:
            # A thread call is never interrupted once it started (anyio waits for it).
            return await anyio.to_thread.run_sync(self._run, plan, atomic)
        finally:
            self._lock.release()

    def _run(self, plan: Plan[T], atomic: bool) -> T:
        if not atomic:
            return self._drive(plan)
        with self.conn.transaction():
            return self._drive(plan)

    def _drive(self, plan: Plan[T]) -> T:
        with self.conn.cursor() as cursor:
            try:
                statement = next(plan)
                while True:
                    if statement.many is not None and len(statement.many) != 1:
                        cursor.executemany(statement.query, statement.many, returning=True)
                        rows: list[Row] = []
                        while True:
                            if _has_rows(cursor):
                                rows += cursor.fetchall()
                            if not cursor.nextset():
                                break
                    else:
                        cursor.execute(statement.query, statement.one)
                        rows = cursor.fetchall() if _has_rows(cursor) else []
                    statement = plan.send(rows)
            except StopIteration as done:
                result: T = done.value
                return result

    async def wait_notifies(self) -> list[Notice]:
        async with self._lock:
            while True:
                # A short blocking wait, repeated: a cancellation (queue closing)
                # is seen within _THREAD_NOTIFY_WAIT, as the thread cannot be interrupted.
                pids = await anyio.to_thread.run_sync(self._wait_briefly)
                if pids:
                    return pids

    def _wait_briefly(self) -> list[Notice]:
        notifies = self.conn.notifies(timeout=_THREAD_NOTIFY_WAIT, stop_after=1)
        return [Notice(notify.pid, notify.channel, notify.payload) for notify in notifies]

    async def close(self) -> None:
        await anyio.to_thread.run_sync(self.conn.close)
