"""When a queue answers notices of new jobs from other processes; knows no actor, clock or store."""

from __future__ import annotations

from typing import Literal

import attrs

#: Seconds a queue whose last claim found nothing waits before it answers another
#: process's notification of new jobs (see `ClaimPacing`), at first; doubled after
#: each late claim that finds nothing too, up to the most. A job that the queue
#: taking jobs is too busy to claim (or dead) waits at most that much longer; and
#: the outrun queue claims once per pause, however many notifications come.
OUTRUN_PAUSE, OUTRUN_PAUSE_MOST = 0.005, 0.02


def _first_pause() -> float:
    return OUTRUN_PAUSE  # read when needed, not at import: tests lengthen it


@attrs.define
class ClaimPacing:
    """Whether a notification of new jobs is answered by a claim now, or after a pause.

    Every queue of every process hears each new job: if all claimed at once, all
    but one would find nothing, for a transaction and a round trip each. So a
    queue whose last claim answering a notification found nothing (`outrun`:
    another took the job) answers the next after OUTRUN_PAUSE (coalesced), by
    when the queue taking jobs has claimed it, unless that one is busy or dead:
    then this one takes it, and answers at once again. Its own submits, timers
    and polls claim at once, whatever the flag says.
    """

    outrun: bool = False
    pausing: bool = False  # the queue's timer for the late answer is set
    pause: float = attrs.Factory(_first_pause)

    def heard(self) -> Literal["claim", "wait", "coalesce"]:
        """A notification came: claim now, or set the timer for `pause` ("wait"),
        or do nothing ("coalesce": the timer set already answers this one too)."""
        if not self.outrun:
            return "claim"
        if self.pausing:
            return "coalesce"
        self.pausing = True
        return "wait"

    def paused(self) -> None:
        """The timer fired: the queue claims now, answering what it heard meanwhile."""
        self.pausing = False

    def claimed(self, found: int, *, heard: bool) -> None:
        """A claim found *found* jobs; *heard*: it answered a notification."""
        if found:
            self.outrun, self.pause = False, OUTRUN_PAUSE
        elif heard:
            if self.outrun:  # a late claim, outrun again: look less often
                self.pause = min(self.pause * 2, OUTRUN_PAUSE_MOST)
            self.outrun = True
