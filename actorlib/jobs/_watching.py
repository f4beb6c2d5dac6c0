"""The task that runs a store's `watch` for a queue; knows nothing of claims or workers."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Coroutine
from typing import Any

import anyio
import attrs

from ._core import QueueCore
from ._errors import JobStoreUnavailableError

logger = logging.getLogger("actorlib")


@attrs.define
class StoreWatch:
    """The task that runs the store's `watch` (stores with NOTIFY), and its end."""

    # Invariant: set while the task runs; None before it starts and once it ended.
    running: tuple[anyio.CancelScope, anyio.Event] | None = None
    # The store's `listens` when the last loss was logged: tries to listen again
    # that fail before one succeeds (a server that is down) are not logged again.
    lost_at: int | None = None

    def start(
        self, core: QueueCore, start_task: Callable[[Callable[[], Coroutine[Any, Any, None]]], None]
    ) -> None:
        """Let the store wake the queue when other processes add jobs, if it can
        (`WatchingStore`); started again at the next poll if it ends."""
        watch = getattr(core.store, "watch", None)
        if watch is None or self.running is not None:
            return
        scope, ended = anyio.CancelScope(), anyio.Event()
        self.running = (scope, ended)
        name = core.name
        # A store's watch may also report other processes' changes of jobs (`changed`).
        tells_changes = "changed" in inspect.signature(watch).parameters
        options = {"changed": core.changed_elsewhere} if tells_changes else {}

        async def run() -> None:
            try:
                with scope:
                    # A queue that runs no jobs need not hear of new ones.
                    await watch(core.heard if core.workers else None, **options)
            except Exception as error:
                self._lost(core, name, error)
            finally:
                if self.running == (scope, ended):
                    self.running = None
                ended.set()

        start_task(run)

    def _lost(self, core: QueueCore, name: str, error: Exception) -> None:
        """Log the end of a watch, once per outage of a store that cannot be reached."""
        listens = getattr(core.store, "listens", None)
        down = isinstance(error, JobStoreUnavailableError)
        if down and listens is not None and listens == self.lost_at:
            logger.debug("job queue %r still cannot listen to its store: %s", name, error)
            return
        self.lost_at = listens
        logger.warning(
            "job queue %r stopped listening to its store (%s); polling until it listens again",
            name,
            type(error).__name__,
            exc_info=not down,  # a lost connection's traceback says nothing more
        )

    async def stop(self) -> None:
        """Cancel the task, if it runs, and wait for its end."""
        if self.running is not None:
            scope, ended = self.running
            scope.cancel()
            await ended.wait()
