"""What a queue's poll does in its store for the jobs it runs; knows no actors or timers."""

from __future__ import annotations

import logging
from collections.abc import Collection

import attrs

from ._core import QueueCore
from ._model import JobRecord, Progress

logger = logging.getLogger("actorlib")


@attrs.define
class Upkeep:
    """Renews the leases of the jobs running here, reclaims expired ones, purges old
    results and shares the progress of running jobs with followers elsewhere."""

    # The progress of each job running here as last stored for its followers elsewhere.
    shared_progress: dict[str, Progress] = attrs.Factory(dict)

    async def run(self, core: QueueCore, running: Collection[JobRecord]) -> None:
        """Do the poll's work in the store; *running*: the jobs this queue runs."""
        store = core.store
        await store.renew(core.owner, [r.id for r in running], core.lease)
        reclaimed = await store.reclaim_expired()
        if reclaimed:
            logger.warning(
                "job queue %r re-queued %d running jobs: their lease expired or their worker died",
                core.name,
                reclaimed,
            )
        await store.purge(core.keep_results)
        await self._share_progress(core, running)

    async def _share_progress(self, core: QueueCore, running: Collection[JobRecord]) -> None:
        """Store the new progress of the jobs running here, for followers elsewhere."""
        save = getattr(core.store, "save_progress", None)
        if save is None:
            return
        progress = {record.id: record.progress for record in running}
        self.shared_progress = {
            job_id: p for job_id, p in self.shared_progress.items() if job_id in progress
        }
        new = [
            (job_id, p)
            for job_id, p in progress.items()
            if p is not None and self.shared_progress.get(job_id) != p
        ]
        if new:
            await save(core.owner, new)
            self.shared_progress.update(new)
