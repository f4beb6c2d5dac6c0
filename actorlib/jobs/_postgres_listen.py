"""The PostgreSQL store's listening session: its channels, its advisory locks, what it hears.

It knows the channel names and the lock keys, never the jobs table: a
notification is a wake-up, or a payload about jobs that the store reads.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import anyio

from ._postgres_link import Link, Notice, Row, Statement, connect
from ._postgres_link import one as _one

logger = logging.getLogger("actorlib")

#: The payload of a new-jobs notification that wakes its sender's own queue too:
#: jobs released by a commit that ended their prerequisites (a queue knows of its
#: own submits and retries, never of what its saves released).
RELEASED = "released"

#: The first of the two keys of every open store's session advisory lock.
OPEN_LOCK_SPACE = "actorlib.jobs.open"
#: The first of the two keys of the lock that says an owner (a queue) lives; the second
#: is the owner's name. Its jobs are re-queued by anyone who sees it free.
OWNER_LOCK_SPACE = "actorlib.jobs.owner"


class Listener:
    """One session that LISTENs and holds the store's advisory locks.

    - **New jobs** (``channel``): heard from the first `watch` by a queue
      that runs jobs; a submit-only queue never hears them (one
      notification per submit, its own included, that it would only throw
      away). Its own process's are dropped, but for `RELEASED`.
    - **Changed jobs** (``state_channel``): heard from the first job this
      process submits or looks up (`follow`); a worker that never does is
      spared every job's state notifications, and so is the server.
    - **Locks**: the shared open-lock of the schema (an opener that finds
      itself alone re-queues what an earlier run left running) and the
      owner's lock (its running jobs are re-queued once it is free).

    Args:
        conninfo: the libpq connection string.
        name: the application name the session shows in pg_stat_activity.
        schema: the store's schema (names the channels and the open-lock).
        own_pids: the backend pids of this store's sessions, shared with
            the store: notifications from them are this process's own.
        url: the store's URL for messages (no password).
        clock: the store's clock (for `back_at`).
    """

    def __init__(
        self,
        conninfo: str,
        name: str,
        schema: str,
        own_pids: set[int],
        url: str,
        clock: Callable[[], float],
    ) -> None:
        self._conninfo = conninfo
        self._name = name
        self._schema = schema
        self._own_pids = own_pids
        self._url = url
        self.channel = f"actorlib_jobs.{schema}"
        # At most 63 bytes, as every SQL name: the schema has at most 48.
        self.state_channel = f"actorlib_state.{schema}"
        self.owner = ""
        self.link: Link | None = None
        # How many times a session has started listening: a queue that reads its
        # followed jobs and later finds the same number missed no notification since.
        self.listens = 0
        # When a session started again after one was lost (None: never lost).
        self.back_at: float | None = None
        self._clock = clock
        self._following = False
        self._waking = False
        # The watch's current wait for notifications, which `follow` interrupts.
        self._waiting: anyio.CancelScope | None = None

    async def start(self) -> bool:
        """Connect; LISTEN on the channels heard so far; take the locks. Whether alone."""
        space, key = OPEN_LOCK_SPACE, self._schema
        link = await connect(
            self._conninfo,
            [
                # This session's life is the lock's: never time it out, and let
                # the server notice a dead peer within seconds (notes: 2 s/1 s/3).
                Statement(
                    "SELECT set_config('application_name', %s, false)", (f"{self._name} listener",)
                ),
                Statement("SET idle_session_timeout = 0"),
                Statement("SET tcp_keepalives_idle = 5"),
                Statement("SET tcp_keepalives_interval = 1"),
                Statement("SET tcp_keepalives_count = 3"),
                *([Statement(f'LISTEN "{self.channel}"')] if self._waking else []),
                *([Statement(f'LISTEN "{self.state_channel}"')] if self._following else []),
                Statement(
                    "SELECT pg_advisory_lock_shared(hashtext(%s), hashtext(%s))", (space, key)
                ),
                # Held while this queue lives: its running jobs are re-queued once it is free.
                Statement(
                    "SELECT pg_advisory_lock(hashtext(%s), hashtext(%s))",
                    (OWNER_LOCK_SPACE, self.owner),
                ),
            ],
        )
        self.link = link
        self.listens += 1
        if self.listens > 1:
            self.back_at = self._clock()
        # A session's own locks never conflict with each other: the exclusive
        # lock is granted iff no other session holds the shared one.
        ((alone,),) = await link.run(
            _one("SELECT pg_try_advisory_lock(hashtext(%s), hashtext(%s))", (space, key)),
            atomic=False,
        )
        if alone:
            await link.run(
                _one("SELECT pg_advisory_unlock(hashtext(%s), hashtext(%s))", (space, key)),
                atomic=False,
            )
        return bool(alone)

    def locks_settled(self, now: float, grace: float) -> bool:
        """Whether a free owner lock means a dead owner: not while this session is
        lost, nor within *grace* seconds after it is back. Whatever ended it (a
        failover to a standby, an operator ending every session, a restart) most
        likely ended the other owners' sessions too, and they are taking their
        locks again as this one did."""
        # Not the same as the reclaim's check that this owner's lock is held on the
        # server: while a session starts again, the server holds the new lock
        # before `back_at` is set, and only this check covers that moment.
        if self.link is None and self.listens > 0:
            return False
        return self.back_at is None or now - self.back_at >= grace

    async def close(self) -> None:
        """Close the session (its locks go with it)."""
        link, self.link = self.link, None
        if link is not None:
            await link.close()

    async def watch(
        self,
        wake: Callable[[], None] | None,
        changed: Callable[[list[str]], None] | None,
    ) -> None:
        """The store's `watch`: hear other processes until cancelled (see there);
        *changed* gets the payloads of their state notifications, in order.

        Raises:
            psycopg.OperationalError: the session was lost.
        """
        if self.link is None:
            await self.start()
            if wake is not None:
                wake()
        link = self.link
        assert link is not None
        try:
            if wake is not None and not self._waking:
                # From now on, and the jobs submitted before were not heard: look now.
                await link.run(_one(f'LISTEN "{self.channel}"'), atomic=False)
                self._waking = True
                wake()
            while True:
                # One scope for many waits, not one per wait: it ends only when
                # `follow` (or `channels`) needs the session, and notifications
                # that come meanwhile stay with the link for the next wait.
                with anyio.CancelScope() as waiting:
                    self._waiting = waiting
                    while True:
                        self._tell(await link.wait_notifies(), wake, changed)
                self._waiting = None
        except Exception:
            self.link = None
            with anyio.CancelScope(shield=True):
                await link.close()
            raise

    def _tell(
        self,
        notices: list[Notice],
        wake: Callable[[], None] | None,
        changed: Callable[[list[str]], None] | None,
    ) -> None:
        # This process's own changes are known to its queue already (but for
        # the jobs its commits released: `RELEASED`).
        own = self._own_pids
        states = [
            n.payload for n in notices if n.channel == self.state_channel and n.pid not in own
        ]
        if wake is not None and any(
            n.channel == self.channel and (n.pid not in own or n.payload == RELEASED)
            for n in notices
        ):
            wake()
        if states and changed is not None:
            changed(states)

    async def follow(self) -> None:
        """Hear the state channel from now on (before the caller's job can change)."""
        if self._following:
            return
        self._following = True
        link = self.link
        if link is None:
            return  # `start` begins with it
        try:
            await self._run(link, f'LISTEN "{self.state_channel}"')
        except Exception:
            # The session is unusable: drop it, as a watch that loses it does. The
            # next watch listens again (on both channels: the flag is set), and the
            # queue reads its followed jobs at its next poll (`listens` changes).
            logger.debug(
                "job store %s: LISTEN on the state channel failed", self._url, exc_info=True
            )
            if self.link is link:
                self.link = None
                with anyio.CancelScope(shield=True):
                    await link.close()

    async def channels(self) -> set[str]:
        """The channels the session hears, as the server says (empty: no session)."""
        link = self.link
        if link is None:
            return set()
        rows = await self._run(link, "SELECT pg_listening_channels()")
        return {str(channel) for (channel,) in rows}

    async def _run(self, link: Link, query: str) -> list[Row]:
        if self._waiting is not None:
            self._waiting.cancel()  # the watch gives the session up, then waits again
        return await link.run(_one(query), atomic=False)
