"""The PostgreSQL store's pool of links that run its plans; knows nothing of jobs."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import anyio

from ._errors import JobStoreUnavailableError, short_error
from ._postgres_link import Link, Plan, Statement, connect, lost_server
from ._postgres_link import acquire as _acquire
from ._postgres_link import one as _one

_T = TypeVar("_T")


class LinkPool:
    """A fixed number of links, each reconnected at its next call once it was lost.

    Args:
        conninfo: the libpq connection string.
        name: the application name the sessions show in pg_stat_activity.
        size: how many links run plans at once.
        url: the store's URL for messages (no password).
        read_only: every transaction read-only: the server refuses any write.
    """

    def __init__(
        self, conninfo: str, name: str, size: int, url: str, *, read_only: bool = False
    ) -> None:
        self._conninfo = conninfo
        self._read_only = read_only
        self._name = name
        self._size = size
        self.url = url
        self._idle: list[Link | None] = []
        self._free: anyio.Semaphore | None = None
        # The backend pids of the open links, shared with the listener: notifications
        # from them are this process's own.
        self.own_pids: set[int] = set()

    async def open(self) -> Link:
        """Connect every link; return the first (left idle) for the opener's setup.

        A link that fails to connect leaves those connected before it in the
        pool, where `close` finds them (the store closes the pool when its
        open fails): a server that refuses the second connection must not keep
        the first one open.
        """
        self._free = anyio.Semaphore(self._size)
        self._idle = []
        for _ in range(self._size):
            self._idle.append(await self._connect())
        first = self._idle[0]
        assert first is not None
        return first

    async def _connect(self) -> Link:
        link = await connect(
            self._conninfo,
            [
                Statement("SET default_transaction_isolation = 'read committed'"),
                # Every statement here is short: compiling one with LLVM (which the
                # server does once a plan's cost passes jit_above_cost, as a count
                # over a large table may) costs far more than running it.
                Statement("SET jit = off"),
                # Plans are cached as the server chooses (plan_cache_mode = auto):
                # psycopg prepares a statement at its fifth run, and the server then
                # keeps a generic plan once it costs no more than planning each run.
                # Planning every run (force_custom_plan) cost a third of the server's
                # CPU per job (measured: 1.86 against 1.21 ms per job); the generic
                # plans walk the same indexes (a 3,000-job run reads no more tuples).
                # Every query here walks an index and stops early. A plain index scan
                # also marks the entries of dead rows (each claim and outcome leaves
                # one in the waiting indexes) so later scans skip them; a bitmap scan
                # never does, and re-reads every one until a vacuum: measured, 1,900
                # tuples read per job over a 3,000-job run, against 70 without it.
                Statement("SET enable_bitmapscan = off"),
                # Names the connection in pg_stat_activity.
                Statement("SELECT set_config('application_name', %s, false)", (self._name,)),
                *([Statement("SET default_transaction_read_only = on")] * self._read_only),
            ],
        )
        self.own_pids.add(link.backend_pid)
        return link

    async def close(self) -> None:
        """Close every idle link; a link in use closes as its call ends. Later calls
        raise (the pids stay in `own_pids` until the owner clears them)."""
        self._free = None
        links, self._idle = self._idle, []
        for link in links:
            if link is not None:
                await link.close()

    async def call(
        self,
        plan: Plan[_T],
        *,
        atomic: bool = False,
        again: Callable[[], Plan[_T]] | None = None,
    ) -> _T:
        """Run *plan* on an idle connection (reconnecting one that was lost).

        With *again*, a plan whose connection is lost while it runs (so that
        whether it committed is unknown) runs once more, as ``again()``, on a
        new connection: *again* must be safe to run after *plan* committed.
        """
        free = self._free
        if free is None:
            raise RuntimeError(f"the job store {self.url} is not open")
        await _acquire(free)
        try:
            # The call's link, as `_run` replaces it: back to the idle ones after.
            held = [self._idle.pop()]
            try:
                return await self._run(held, plan, atomic, again)
            finally:
                (link,) = held
                if self._free is free:
                    self._idle.append(link)
                elif link is not None:  # the pool was closed during the call
                    with anyio.CancelScope(shield=True):
                        await link.close()
        finally:
            free.release()

    async def _run(
        self,
        held: list[Link | None],
        plan: Plan[_T],
        atomic: bool,
        again: Callable[[], Plan[_T]] | None,
    ) -> _T:
        while True:
            ran = False
            try:
                if held[0] is not None and held[0].ended_by_server():
                    await self._drop(held)
                link = held[0]
                if link is None:
                    link = held[0] = await self._connect()
                ran = True
                return await link.run(plan, atomic=atomic)
            except Exception as error:
                lost = lost_server(error)
                if held[0] is not None and (held[0].broken or lost):
                    await self._drop(held)  # the next run (or call) connects anew
                if not lost:
                    raise
                if ran and again is not None:
                    # Whether it committed is unknown: run the plan safe to run again.
                    plan, again = again(), None
                    continue
                raise JobStoreUnavailableError(
                    store=self.url, reason=short_error(error, first_line=True)
                ) from error

    async def _drop(self, held: list[Link | None]) -> None:
        link, held[0] = held[0], None
        if link is not None:
            self.own_pids.discard(link.backend_pid)
            with anyio.CancelScope(shield=True):
                await link.close()


async def measure_offset(link: Link, clock: Callable[[], float]) -> float:
    """How far the server's clock is ahead of *clock*, to within half a round trip."""
    before = clock()
    ((server,),) = await link.run(
        _one("SELECT extract(epoch FROM clock_timestamp())"), atomic=False
    )
    after = clock()
    return float(server) - (before + after) / 2
