"""`Dashboard`: serves the live page and its JSON API for a system and/or job stores."""

from __future__ import annotations

import contextlib
import logging
import secrets
import time
from collections.abc import Sequence
from types import TracebackType

import anyio
import anyio.abc

from .. import ActorSystem
from ..jobs import JobStore, PostgresStore, SqliteStore
from ..jobs._store import open_store
from ._app import App, State
from ._auth import Guard, is_loopback
from ._http import serve
from ._system_view import SystemView

logger = logging.getLogger("actorlib.dashboard")


class Dashboard:
    """A live web dashboard of a running system and its job queues.

    ``async with Dashboard(system, port=0) as url:`` serves the page at *url*
    until the block ends: the supervision tree with each actor's state,
    mailbox depth, restarts and message rate; dead letters as they happen;
    every job queue open on the system (`actorlib.jobs.open_queues`) with
    buttons to retry a failed job or cancel a waiting one; the system's node
    and links when it is remote; charts of messages/s and jobs/s. The page
    polls the JSON API under ``/api/``; ``/metrics`` answers Prometheus.

    It reads statistics once a tick (*refresh*) and on each request, and
    never sits on a message's path. It adds one actor to the system, named
    ``dashboard-...``, subscribed to dead letters.

    Args:
        system: the system to show; None to show job stores only.
        stores: job stores to show besides the system's queues: store URLs
            (``sqlite:///jobs.db``, ``postgresql://...``) the dashboard opens
            and closes itself, or open `JobStore` objects.
        host: the address to bind; loopback by default. Any other address
            needs a token.
        port: the port; 0 picks a free one (the URL says which).
        token: the secret a client must present (the URL carries it as
            ``?token=``); generated when *host* is not loopback and none is
            given. With a token, requests without it are refused.
        refresh: seconds between ticks (rates, charts).

    Raises:
        TypeError: *system* is not an ActorSystem.
        ValueError: nothing to show, a bad refresh or token, or a memory store URL.
    """

    def __init__(
        self,
        system: ActorSystem | None = None,
        *,
        stores: Sequence[str | JobStore] = (),
        host: str = "127.0.0.1",
        port: int = 0,
        token: str | None = None,
        refresh: float = 1.0,
    ) -> None:
        if system is not None and not isinstance(system, ActorSystem):
            raise TypeError(f"Dashboard() expects an ActorSystem or None, got {system!r}")
        if isinstance(stores, str):
            raise TypeError(f"stores must be a list of store URLs, got the str {stores!r}")
        if system is None and not stores:
            raise ValueError("Dashboard() needs a system, stores=[...], or both: nothing to show")
        if isinstance(refresh, bool) or not isinstance(refresh, int | float) or not refresh > 0:
            raise ValueError(f"refresh must be a number of seconds > 0, got {refresh!r}")
        if token is not None and (not isinstance(token, str) or len(token) < 16):
            raise ValueError("token must be a str of 16 characters or more")
        for store in stores:
            if store in ("memory", "memory://"):
                raise ValueError(
                    "a memory store lives in the process of its queue: show that queue's "
                    "system instead (Dashboard(system)), or pass a sqlite or postgresql URL"
                )
        self.system = system
        self.host = host
        self.port = port
        self.token = token if token is not None or is_loopback(host) else secrets.token_urlsafe(24)
        self.refresh = float(refresh)
        self._stores = list(stores)
        self._state = State(None if system is None else SystemView(system))
        self._stack: contextlib.AsyncExitStack | None = None
        self._tasks: anyio.abc.TaskGroup | None = None
        self._url: str | None = None

    @property
    def url(self) -> str:
        """The page's URL (with ``?token=`` when it has a token).

        Raises:
            RuntimeError: the dashboard is not serving.
        """
        if self._url is None:
            raise RuntimeError("the dashboard is not serving: enter it with async with")
        return self._url

    async def __aenter__(self) -> str:
        if self._stack is not None:
            raise RuntimeError("this Dashboard is already serving; a dashboard serves once")
        stack = self._stack = contextlib.AsyncExitStack()
        try:
            await self._start(stack)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await stack.aclose()
            raise
        return self.url

    async def _start(self, stack: contextlib.AsyncExitStack) -> None:
        for store in self._stores:
            opened = open_store(store, time.time) if isinstance(store, str) else store
            # Opening would make an empty store: a typo would show nothing, quietly.
            if isinstance(opened, SqliteStore) and not await anyio.Path(opened.path).is_file():
                raise FileNotFoundError(f"no job store at {opened.path}: check --store")
            if isinstance(store, str) and isinstance(opened, PostgresStore):
                look = PostgresStore(store, connections=1, read_only=True)
                await look.open("dashboard")  # raises FileNotFoundError for a typo
                await look.close()
            if isinstance(store, str):
                await opened.open(f"dashboard-{secrets.token_hex(4)}")
                stack.push_async_callback(opened.close)
            self._state.add_source(opened.url, opened)
        listener = await anyio.create_tcp_listener(local_host=self.host, local_port=self.port)
        stack.push_async_callback(listener.aclose)
        port = listener.extra(anyio.abc.SocketAttribute.local_port)
        guard = Guard(self.host, port, self.token)
        host = f"[{self.host}]" if ":" in self.host else self.host
        self._url = f"http://{host}:{port}/" + (f"?token={self.token}" if self.token else "")
        view = self._state.view
        if view is not None:
            await view.start()
            stack.push_async_callback(view.stop)
        self._state.follow_queues()
        # Entered last and outside the exit stack: __aexit__ leaves it first,
        # in this task's own cancel scope, before closing the rest shielded.
        tasks = self._tasks = anyio.create_task_group()
        await tasks.__aenter__()
        tasks.start_soon(serve, listener, App(self._state, guard))
        tasks.start_soon(self._ticks)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._stack is not None
        assert self._tasks is not None
        self._url = None
        self._tasks.cancel_scope.cancel()
        try:
            await self._tasks.__aexit__(None, None, None)
        finally:
            with anyio.CancelScope(shield=True):
                await self._stack.aclose()

    async def _ticks(self) -> None:
        last = anyio.current_time()
        while True:
            await anyio.sleep(self.refresh)
            now = anyio.current_time()
            await self._tick(now - last)
            last = now

    async def _tick(self, elapsed: float) -> None:
        """Follow the queues that opened or closed, and work out rates for the charts."""
        state = self._state
        state.follow_queues()
        if state.view is not None:
            state.view.tick()
        for source in list(state.sources.values()):
            try:
                await source.tick(elapsed)
            except Exception as error:  # a store that is down: shown on the page
                logger.debug("dashboard: %s: %s", source.name, error)
        jobs = sum(s.jobs_per_second for s in state.sources.values())
        messages = 0.0 if state.view is None else state.view.messages_per_second
        state.history.append((time.time(), round(messages, 2), round(jobs, 2)))
