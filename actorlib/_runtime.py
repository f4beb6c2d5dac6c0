"""The system's own tasks: its task group, the shielded runtime scope, the bound backend."""

from __future__ import annotations

import math
from collections.abc import Callable, Coroutine
from types import TracebackType
from typing import Any

import anyio
import anyio.abc

from ._clock import Clock, ExpiryQueue, MonotonicClock, TimerQueue
from ._dispatch import Dispatcher
from ._lowlevel import Backend
from ._ref import AskContext, time_out


def bind_backend(
    backend: Backend,
    clock: Clock,
    dispatcher: Dispatcher,
    timer_queue: TimerQueue,
    ask_timeout: float | None,
) -> AskContext:
    """Point the hot paths at the running backend's own primitives (see `_lowlevel`).

    Returns:
        What every ask of the system needs (see `AskContext`).
    """
    if isinstance(clock, MonotonicClock):
        clock.read = backend.now
    dispatcher.new_event = backend.new_event
    dispatcher.checkpoint = backend.checkpoint
    expiry = None
    if (
        ask_timeout is not None
        and not math.isinf(ask_timeout)
        and isinstance(clock, MonotonicClock)
    ):
        # One FIFO timer for every ask with the default timeout. Not with
        # a virtual clock: its timer outlives the asks, and virtual time
        # would jump to a deadline nothing waits for.
        limit = ask_timeout
        expiry = ExpiryQueue(timer_queue, limit, lambda slot: time_out(slot, limit))
    return (expiry, ask_timeout, timer_queue, backend.new_event)


class Runtime:
    """The task group a system lives in, and the runtime tasks inside it.

    The dispatcher's workers and the timer task run in their own shielded
    scope: a cancellation of the body of ``async with ActorSystem(...)``
    must not cancel them, or nobody would be left to run the actors'
    ``on_stop`` during shutdown. Only `cancel` (the end of shutdown) ends it.
    """

    def __init__(self, dispatcher: Dispatcher, timer_queue: TimerQueue) -> None:
        self._dispatcher = dispatcher
        self._timer_queue = timer_queue
        self._task_group: anyio.abc.TaskGroup | None = None
        self._runtime: anyio.abc.TaskGroup | None = None
        self._scope: anyio.CancelScope | None = None

    @property
    def running(self) -> bool:
        """True between `enter` and `cancel`."""
        return self._runtime is not None

    async def enter(self) -> None:
        """Open the system's task group and start the runtime tasks in it."""
        task_group = anyio.create_task_group()
        await task_group.__aenter__()
        self._task_group = task_group
        try:
            await task_group.start(self._run)
        except BaseException as error:
            self._task_group = None
            await task_group.__aexit__(type(error), error, error.__traceback__)
            raise

    async def _run(self, *, task_status: anyio.abc.TaskStatus[None]) -> None:
        with anyio.CancelScope(shield=True) as scope:
            self._scope = scope
            async with anyio.create_task_group() as runtime:
                self._runtime = runtime
                self._dispatcher.bind(runtime.start_soon)
                runtime.start_soon(self._timer_queue.run)
                task_status.started()
                await anyio.sleep_forever()
        self._runtime = None

    def start_task(self, fn: Callable[[], Coroutine[Any, Any, None]]) -> bool:
        """Run *fn* beside the workers until the runtime ends; False if it has ended."""
        if self._runtime is None:
            return False
        self._runtime.start_soon(fn)
        return True

    def cancel(self) -> None:
        """End the runtime tasks (every actor has stopped, or shutdown gave up)."""
        self._dispatcher.close()
        if self._scope is not None:
            self._scope.cancel()

    async def exit(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        """Close the task group (after shutdown), as `__aexit__` of the body's task."""
        task_group, self._task_group = self._task_group, None
        if task_group is None:
            return None
        if exc is not None and not isinstance(exc, anyio.get_cancelled_exc_class()):
            # Every actor has stopped; let the body's own exception propagate
            # as itself rather than wrapped in the task group's ExceptionGroup.
            await task_group.__aexit__(None, None, None)
            return None
        return await task_group.__aexit__(exc_type, exc, tb)

    async def abandon(self, error: BaseException) -> None:
        """Shutdown itself was interrupted: cancel the runtime and close the group with *error*.

        Raises:
            BaseException: *error*, unless the task group absorbed it.
        """
        self.cancel()
        task_group, self._task_group = self._task_group, None
        if task_group is None or not await task_group.__aexit__(
            type(error), error, error.__traceback__
        ):
            raise error
