"""The messages of a queue's scheduler actor: what its facade, its timers and itself tell it."""

from __future__ import annotations

import attrs


@attrs.frozen
class HeardLate:
    """The pause after notifications heard while outrun is over: claim now."""


@attrs.frozen
class TellStarted:
    """Tell other processes of the attempts that have run `TELL_STARTED_AFTER`."""


@attrs.frozen
class Flush:
    """Commit the outcomes gathered since the last flush, in one store call."""


@attrs.frozen
class StoreRetry:
    """The pause after a store call failed for want of the store is over: try again."""


@attrs.frozen
class Poll:
    """Periodic: renew leases, reclaim expired ones, purge old results, look for new jobs."""


@attrs.frozen
class Purge:
    """Memory store: the oldest kept result has reached keep_results; delete what expired."""


@attrs.frozen
class Started:
    """Asked by the facade: answered once `on_start` has spawned the workers."""


@attrs.frozen
class PeriodicTick:
    """Enqueue the latest due tick of the named schedule, then wait for the next one."""

    name: str


@attrs.frozen
class Close:
    """Stop starting jobs; set `QueueCore.drained` once the running ones end."""
