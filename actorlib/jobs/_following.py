"""Following jobs across processes: reading those run elsewhere, telling of those run here.

Knows no actors or timers: the scheduler passes in the jobs it runs.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Collection

from ._core import QueueCore
from ._errors import JobStoreUnavailableError, short_error
from ._model import JobChange, JobRecord
from ._store import next_due_and_running

logger = logging.getLogger("actorlib")


async def observe(
    core: QueueCore,
    job_ids: list[str],
    told: list[JobChange] | None = None,
    *,
    running: Collection[JobRecord],
) -> None:
    """Show the changes *told* of followed jobs, then read the followed jobs among
    *job_ids* that run elsewhere (not among *running*, here) and show their changes."""
    unfollowed = core.applied(told) if told else []
    running_here = {r.id for r in running}
    followed = [i for i in job_ids if i in core.states and i not in running_here]
    core.changed_unfollowed(unfollowed + [i for i in job_ids if i not in core.states])
    if followed:
        core.observed(await core.store.get_many(followed))
    if core.workers == 0 and not core.idle and not core.states:
        # A producer: idle (for `join`) once every job it follows has ended
        # (looked at first: no query while one has not, which is most of the
        # time) and no job waits or runs in the store. A submit meanwhile (a
        # kick) makes the answer stale.
        store, kicks = core.store, core.kicks
        due, running_anywhere = await next_due_and_running(store)
        if due is None and not running_anywhere and core.kicks == kicks and not core.states:
            core.idle = True
            core.notify()


async def tell_started(
    core: QueueCore, tell: Callable[[list[JobRecord]], Awaitable[None]], told: list[JobRecord]
) -> None:
    """Tell followers elsewhere, by the store's *tell*, of the attempts *told* that run here."""
    try:
        await tell(told)
    except JobStoreUnavailableError as error:
        # An outage: its traceback says nothing more. Followers elsewhere then
        # learn of these attempts by their outcomes, as below.
        logger.warning(
            "job queue %r could not tell other processes that %d jobs started: %s",
            core.name,
            len(told),
            short_error(error, first_line=True),
        )
    except Exception:
        # Followers elsewhere then learn of these attempts by their outcomes.
        logger.warning(
            "job queue %r could not tell other processes that %d jobs started",
            core.name,
            len(told),
            exc_info=True,
        )
