"""How a queue rides out a store it cannot reach for a while; knows no actors or timers.

A database that restarts, fails over or is cut off for a few seconds must not
stop the queues of every process that uses it: their scheduler keeps the
outcomes it could not commit, tries again after a pause that doubles up to
`RETRY_MOST`, and logs the outage once when it begins and once when it ends.
"""

from __future__ import annotations

import logging

import attrs

from ._errors import short_error

logger = logging.getLogger("actorlib")

#: Seconds before the first try after a store call failed for want of the store;
#: doubled after each failed try, up to the most.
RETRY_FIRST, RETRY_MOST = 0.05, 2.0

#: Seconds of an outage after which a queue that closes stops waiting to commit the
#: outcomes it keeps (their jobs then run again); a shorter blip does not cost them.
CLOSE_PATIENCE = 5.0


@attrs.define
class StoreOutage:
    """The state of one queue's outage: when it began and the pause before the next try."""

    queue: str  # the queue's name, for the log
    since: float | None = None  # when the first call failed; None while the store answers
    pause: float = RETRY_FIRST
    failures: int = 0

    def failed(self, error: BaseException, now: float, *, kept: int) -> float:
        """A store call failed for want of the store: log the outage if it begins
        here; return the seconds to wait before trying again."""
        self.failures += 1
        if self.since is None:
            self.since = now
            logger.warning(
                "job queue %r cannot reach its store (%s); keeping %d outcomes not yet "
                "committed and trying again until it answers",
                self.queue,
                short_error(error, first_line=True),
                kept,
            )
            return self.pause
        self.pause = min(self.pause * 2, RETRY_MOST)
        return self.pause

    def unreachable_for(self, now: float) -> float | None:
        """Seconds since the outage began, or None while the store answers."""
        return None if self.since is None else max(0.0, now - self.since)

    def past_patience(self, now: float) -> bool:
        """Whether a closing queue should stop waiting for the store (`CLOSE_PATIENCE`)."""
        lasted = self.unreachable_for(now)
        return lasted is not None and lasted >= CLOSE_PATIENCE

    def reached(self, now: float) -> None:
        """A store call succeeded: log the end of the outage, if there was one."""
        if self.since is None:
            return
        logger.warning(
            "job queue %r reached its store again after %.1f s (%d failed tries)",
            self.queue,
            max(0.0, now - self.since),
            self.failures,
        )
        self.since, self.pause, self.failures = None, RETRY_FIRST, 0
