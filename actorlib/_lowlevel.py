"""The running backend's primitives on hot paths, resolved once per system."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Protocol

import anyio
import anyio.lowlevel
import attrs


class Waiter(Protocol):
    """A one-shot event: what anyio.Event offers, as much as the runtime uses."""

    def set(self) -> None:
        """Wake the waiter (no effect the second time)."""
        ...

    def is_set(self) -> bool:
        """True once set."""
        ...

    async def wait(self) -> None:
        """Return once set (at once if it already is)."""
        ...


class FutureWaiter:
    """An asyncio future as a one-shot event, without anyio.Event's two wrappers.

    Cancellation behaves as with anyio.Event on asyncio: a cancelled task
    cancels the future it awaits and gets CancelledError.
    """

    __slots__ = ("_future",)

    def __init__(self, future: asyncio.Future[None]) -> None:
        self._future = future

    def set(self) -> None:
        """Wake the waiter."""
        if not self._future.done():
            self._future.set_result(None)

    def is_set(self) -> bool:
        """True once set (or once its waiter was cancelled)."""
        return self._future.done()

    async def wait(self) -> None:
        """Return once set."""
        await self._future


@attrs.frozen
class Backend:
    """What the runtime calls per message or per ask, bound to the running loop.

    anyio's module-level functions find the running backend on every call
    (about 0.5 µs each); at a few calls per ask that is a tenth of its cost.
    The behaviour is anyio's own: on asyncio its checkpoint is ``sleep(0)``
    and its clock is ``loop.time``; on trio both are trio's.
    """

    now: Callable[[], float]
    checkpoint: Callable[[], Awaitable[None]]
    new_event: Callable[[], Waiter]


def current_backend() -> Backend:
    """Resolve the primitives of the backend running this task."""
    new_event = type(anyio.Event())
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        loop = None
    if loop is not None:
        create_future = loop.create_future
        return Backend(loop.time, _asyncio_checkpoint, lambda: FutureWaiter(create_future()))
    try:
        import trio
    except ImportError:  # pragma: no cover - some other anyio backend
        return Backend(anyio.current_time, anyio.lowlevel.checkpoint, new_event)
    return Backend(trio.current_time, trio.lowlevel.checkpoint, new_event)


async def _asyncio_checkpoint() -> None:
    await asyncio.sleep(0)
