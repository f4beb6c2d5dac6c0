"""The task that runs a store's `watch` for a queue; knows nothing of claims or workers."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Coroutine
from typing import Any

import anyio
import attrs

from ._core import QueueCore

logger = logging.getLogger("actorlib")


@attrs.define
class StoreWatch:
    """The task that runs the store's `watch` (stores with NOTIFY), and its end."""

    # Invariant: set while the task runs; None before it starts and once it ended.
    running: tuple[anyio.CancelScope, anyio.Event] | None = None

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
            except Exception:
                logger.warning(
                    "job queue %r stopped listening to its store; polling until it listens again",
                    name,
                    exc_info=True,
                )
            finally:
                if self.running == (scope, ended):
                    self.running = None
                ended.set()

        start_task(run)

    async def stop(self) -> None:
        """Cancel the task, if it runs, and wait for its end."""
        if self.running is not None:
            scope, ended = self.running
            scope.cancel()
            await ended.wait()
