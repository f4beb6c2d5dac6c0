"""JobHandle and what it watches: the last known state of one job in this process."""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import AsyncIterator, Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

import anyio
import attrs

from .._ref import check_timeout
from ._errors import JobCancelledError, JobQueueClosedError
from ._model import JobInfo, JobStatus, Progress

if TYPE_CHECKING:
    from ._queue import JobQueue

logger = logging.getLogger("actorlib")

ResultT = TypeVar("ResultT", covariant=True)


class JobState:
    """The last committed state of one job, shared by all its handles in this process."""

    def __init__(self, info: JobInfo) -> None:
        self.info = info
        self.closed_reason: str | None = None
        self._done: anyio.Event | None = None  # made when someone waits
        self._callbacks: list[tuple[JobHandle[Any], Callable[[Any], object]]] = []
        self._listeners: list[_Listener] = []
        # The traceback the job's error came with, kept at its first raise here:
        # every raise of one exception object prepends the raising frames to it.
        self._origin: tuple[BaseException, TracebackType | None] | None = None

    def origin_traceback(self, error: BaseException) -> TracebackType | None:
        """*error*'s traceback as it was before any `result()` raised it."""
        if self._origin is None or self._origin[0] is not error:
            self._origin = (error, error.__traceback__)
        return self._origin[1]

    @property
    def settled(self) -> bool:
        return self.info.status.final or self.closed_reason is not None

    def update(self, info: JobInfo) -> None:
        self.info = info
        if info.status.final:
            self._settle()

    def progress(self, progress: Progress) -> None:
        self.info = attrs.evolve(self.info, progress=progress)
        for listener in self._listeners:
            listener.push(progress)

    def close(self, reason: str) -> None:
        """The queue stopped tracking this job before it ended."""
        if not self.settled:
            self.closed_reason = reason
            self._settle()

    def _settle(self) -> None:
        if self._done is not None:
            self._done.set()
        for listener in self._listeners:
            listener.wake()
        callbacks, self._callbacks = self._callbacks, []
        for handle, callback in callbacks:
            _call(callback, handle)

    async def wait(self) -> None:
        if not self.settled:
            if self._done is None:
                self._done = anyio.Event()
            await self._done.wait()

    def add_callback(self, handle: JobHandle[Any], callback: Callable[[Any], object]) -> None:
        if self.settled:
            _call(callback, handle)
        else:
            self._callbacks.append((handle, callback))

    def listen(self) -> _Listener:
        listener = _Listener()
        self._listeners.append(listener)
        return listener

    def unlisten(self, listener: _Listener) -> None:
        self._listeners.remove(listener)


def _call(callback: Callable[[Any], object], handle: JobHandle[Any]) -> None:
    try:
        callback(handle)
    except Exception:
        # A callback's bug must not stop the others, nor the queue; it is logged, not lost.
        logger.exception("done callback %r of job %s raised", callback, handle.id)


class _Listener:
    def __init__(self) -> None:
        self.items: deque[Progress] = deque()
        self._event = anyio.Event()

    def push(self, progress: Progress) -> None:
        self.items.append(progress)
        self._event.set()

    def wake(self) -> None:
        self._event.set()

    async def wait(self) -> None:
        await self._event.wait()
        self._event = anyio.Event()


class JobHandle(Generic[ResultT]):
    """What `JobQueue.submit` returns: follow one job and get its outcome.

    Handles are cheap views; several handles of one job (e.g. from a second
    submit with the same key) see the same state. The type parameter is what
    the job function returns (awaited, for an async function), so
    ``await handle.result()`` is typed; `JobQueue.get` returns a
    ``JobHandle[Any]``, since a job found by id may have run anything.
    """

    __slots__ = ("_queue", "_state")

    def __init__(self, queue: JobQueue, state: JobState) -> None:
        self._queue = queue
        self._state = state

    def __repr__(self) -> str:
        return f"<JobHandle {self.name}[{self.id}] {self.status().value}>"

    @property
    def id(self) -> str:
        """The job's id (`JobQueue.get` finds it again, in this or a later process)."""
        return self._state.info.id

    @property
    def name(self) -> str:
        """The job function's qualified name."""
        return self._state.info.name

    @property
    def key(self) -> str | None:
        """The job's idempotency key, or None."""
        return self._state.info.key

    def status(self) -> JobStatus:
        """The job's status, as last committed to the store (never blocks)."""
        return self._state.info.status

    def info(self) -> JobInfo:
        """A snapshot of the job: status, attempts, progress, result or error."""
        return self._state.info

    def done(self) -> bool:
        """True once the job is in a final state."""
        return self._state.info.status.final

    async def result(self, *, timeout: float | None = None) -> ResultT:
        """Wait for the job to end and return its result.

        Args:
            timeout: seconds to wait (on the system's Clock); None waits for ever.

        Raises:
            Exception: the job's final error, as the job raised it (a failed
                job), with a note naming the job.
            JobCancelledError: the job was cancelled.
            JobQueueClosedError: the queue closed before the job ended.
            TimeoutError: it did not end within *timeout* (the job goes on).
        """
        limit = check_timeout(timeout)
        if not self._state.settled:
            await self._queue._wait(self._state, limit)
        return cast(ResultT, self._outcome())

    def _outcome(self) -> Any:
        state = self._state
        info = state.info
        if info.status is JobStatus.SUCCEEDED:
            return info.result
        error = info.error
        if info.status is JobStatus.FAILED or (
            info.status is JobStatus.CANCELLED and isinstance(error, JobCancelledError)
        ):
            assert error is not None
            # Raised with the traceback it came with, each time: awaiting it
            # again does not add the earlier awaiters' frames.
            raise error.with_traceback(state.origin_traceback(error))
        if info.status is JobStatus.CANCELLED:
            raise JobCancelledError(job=f"{info.name}[{info.id}]")
        raise JobQueueClosedError(
            operation=f"wait for job {self.name}[{self.id}] ({state.closed_reason})"
        )

    def add_done_callback(self, callback: Callable[[JobHandle[ResultT]], object]) -> None:
        """Call ``callback(handle)`` once the job is final (at once if it already is).

        A callback that raises is logged to the ``actorlib`` logger.

        Raises:
            TypeError: *callback* is not callable.
        """
        if not callable(callback):
            raise TypeError(f"add_done_callback() expects a callable, got {callback!r}")
        self._state.add_callback(self, callback)

    async def progress(self) -> AsyncIterator[Progress]:
        """Yield each progress report of the job, until it ends.

        Only reports made after the iteration starts are yielded; the latest
        earlier one is in ``info().progress``.
        """
        state = self._state
        listener = state.listen()
        try:
            while True:
                while listener.items:
                    yield listener.items.popleft()
                if state.settled:
                    return
                await listener.wait()
        finally:
            state.unlisten(listener)

    async def cancel(self) -> bool:
        """Cancel the job and wait until it has ended.

        A queued (or retrying) job never runs again; a running async job is
        cancelled at its next checkpoint; a running thread job is abandoned
        (its thread finishes, its result is dropped); a process job's process
        is killed.

        Returns:
            True if the job ended cancelled; False if it had already ended
            (or ended otherwise before the cancellation reached it).
        """
        return await self._queue.cancel(self.id)
