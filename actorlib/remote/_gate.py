"""Accepting connections from anyone: accept() through a flood, refusals logged sparingly.

Knows nothing of frames, links or TLS: the socket transport admits what this accepts.
"""

from __future__ import annotations

import errno
import logging
import math
import os
from collections.abc import Callable

import anyio
import anyio.abc
import attrs

from actorlib._clock import Clock

logger = logging.getLogger("actorlib.remote")

# accept() failing with these means "out of descriptors or kernel memory" (a
# flood of connections, or a low RLIMIT_NOFILE): the listener waits, from
# ACCEPT_BACKOFF_MIN doubling to ACCEPT_BACKOFF_MAX seconds, and tries again.
_EXHAUSTED = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
# accept() failing with these means that one connection died before it was
# accepted: the next one is accepted at once (as trio's own listener does).
_GONE = frozenset({errno.ECONNABORTED, errno.ECONNRESET, errno.EPROTO, errno.EPERM})
ACCEPT_BACKOFF_MIN = 0.01
ACCEPT_BACKOFF_MAX = 1.0
# Refused connections are logged one line each, but at most this many lines
# per second: a flood of bad hellos must not become a flood of log lines.
REFUSALS_LOGGED_PER_SECOND = 10
# A flood that runs out of descriptors is logged (a WARNING, and an INFO when it
# ends) at most once per this many seconds of the clock: an attacker who opens
# and closes connections in waves must not get a pair of lines per wave.
FLOODS_LOGGED_EVERY = 60.0


@attrs.define
class Throttle:
    """At most *burst* log lines per second; counts the lines it held back."""

    burst: int
    _second: float = -math.inf
    _lines: int = 0
    held: int = 0

    def allow(self, now: float) -> bool:
        """Whether a line may be logged at *now* (else it is counted in `held`)."""
        if now - self._second >= 1.0:
            self._second, self._lines = now, 0
        if self._lines >= self.burst:
            self.held += 1
            return False
        self._lines += 1
        return True

    def take_held(self) -> str:
        """`` (N more since were not logged)`` for the next line that is logged, once."""
        held, self.held = self.held, 0
        return f" ({held} more since were not logged)" if held else ""


async def accept_all(
    listener: anyio.abc.SocketListener,
    admit: Callable[[anyio.abc.SocketStream], None],
    clock: Clock,
    node_id: str,
) -> None:
    """Accept connections until cancelled, each passed to *admit*; out of descriptors, retry.

    *clock* times the backoff (the system's Clock seam); *node_id* names the
    node in the log.

    Raises:
        OSError: accept() failed for another reason than exhaustion
            (anyio.BrokenResourceError on trio and on Unix sockets).
    """
    delay = 0.0
    failed = 0
    floods = _Floods()
    while True:
        try:
            stream = await listener.accept()
        except (OSError, anyio.BrokenResourceError) as error:
            cause = error if isinstance(error, OSError) else error.__cause__
            code = cause.errno if isinstance(cause, OSError) else None
            if code in _GONE:
                continue
            if code not in _EXHAUSTED:
                raise
            if not failed and floods.begin(clock.now()):
                # One line for the whole flood, and one when it ends.
                logger.warning(
                    "node %s cannot accept connections: %s; it keeps listening and "
                    "retries every %g s at most until descriptors are free (a flood "
                    "of connections, or raise the limit: ulimit -n)%s",
                    node_id,
                    os.strerror(code),
                    ACCEPT_BACKOFF_MAX,
                    floods.take_unlogged(),
                )
            failed += 1
            delay = min(max(2 * delay, ACCEPT_BACKOFF_MIN), ACCEPT_BACKOFF_MAX)
            await clock.sleep_until(clock.now() + delay)
            continue
        if failed:
            if floods.logged:
                logger.info(
                    "node %s accepts connections again (%d accepts failed)", node_id, failed
                )
            failed, delay = 0, 0.0
        admit(stream)


@attrs.define
class _Floods:
    """Which floods of exhausted descriptors are logged: one per FLOODS_LOGGED_EVERY."""

    _warned_at: float = -math.inf
    _unlogged: int = 0
    logged: bool = False  # the flood going on now was logged

    def begin(self, now: float) -> bool:
        """A flood begins at *now*: whether to log it (else it is counted)."""
        self.logged = now - self._warned_at >= FLOODS_LOGGED_EVERY
        if self.logged:
            self._warned_at = now
        else:
            self._unlogged += 1
        return self.logged

    def take_unlogged(self) -> str:
        """``; N floods since the last one were not logged`` for the next line, once."""
        unlogged, self._unlogged = self._unlogged, 0
        return f"; {unlogged} floods since the last one were not logged" if unlogged else ""
