"""One attempt of one job: on the event loop, in a thread or in a process, with its timeout."""

from __future__ import annotations

import functools
import inspect
import threading
from collections.abc import Callable
from contextvars import ContextVar

import anyio
import anyio.from_thread
import anyio.to_process
import anyio.to_thread
import attrs
from anyio import BrokenWorkerProcess

from .._clock import TimerQueue
from . import _codec
from ._errors import (
    JobCancelledError,
    JobError,
    JobExitError,
    JobLostError,
    JobMainGuardError,
    JobTimeoutError,
)
from ._model import JobRecord, Progress, check_progress


@attrs.frozen
class Outcome:
    """How an attempt ended: a value, an error, or a cancellation."""

    value: object = None
    error: BaseException | None = None
    cancelled: bool = False


class Attempt:
    """A running attempt: its cancel scope (cancel and timeout reach it here)."""

    def __init__(
        self, record: JobRecord, timers: TimerQueue, report: Callable[[Progress], None]
    ) -> None:
        self.record = record
        self._timers = timers
        self._report = report
        self._scope = anyio.CancelScope()
        self._thread = threading.get_ident()
        self.timed_out = False
        self.cancel_requested = False
        self.ended = False

    def cancel(self) -> None:
        """Interrupt the attempt at its next checkpoint (a thread is abandoned)."""
        self.cancel_requested = True
        self._scope.cancel()

    def _time_out(self) -> None:
        self.timed_out = True
        self._scope.cancel()

    def report(self, progress: Progress) -> None:
        """Called by `report_progress`, from the loop or from the job's thread."""
        if self.ended:
            return  # an abandoned thread (cancelled, timed out) still reporting
        if threading.get_ident() == self._thread:
            self._report(progress)
        else:
            anyio.from_thread.run_sync(self._report, progress)

    async def run(self) -> Outcome:
        """Run the job once; never raises what the job raised."""
        record = self.record
        token = _current_attempt.set(self)
        timer = (
            self._timers.call_later(record.timeout, self._time_out)
            if record.timeout is not None
            else None
        )
        try:
            if self.cancel_requested:  # cancelled before it could start
                return self._interrupted(None)
            with self._scope:
                return Outcome(value=await _invoke(record))
            return self._interrupted(None)
        except anyio.get_cancelled_exc_class():
            raise  # not our scope's (that one stops above): the worker itself is stopping
        except SystemExit as exit_:
            # From the loop, a thread or a process alike: never the worker's exit.
            exited = JobExitError(job=record.label, code=exit_.code)
            exited.__cause__ = exit_
            return Outcome(error=exited)
        except KeyboardInterrupt as interrupt:
            if record.executor == "async":
                raise  # Ctrl+C lands on the loop's thread: the program is stopping
            # A thread never gets Ctrl+C, and worker processes ignore it: the job raised it.
            return self._failed(interrupt)
        except BaseException as error:
            # Any other exception, BaseException subclasses (GeneratorExit,
            # a library's own) included, is the attempt's outcome: never the
            # worker's failure, which would stop the actor system.
            return self._failed(error)
        finally:
            self.ended = True
            if timer is not None:
                timer.cancel()
            _current_attempt.reset(token)

    def _failed(self, error: BaseException) -> Outcome:
        if self.timed_out or self.cancel_requested:
            return self._interrupted(error)
        return Outcome(error=error)

    def _interrupted(self, cause: BaseException | None) -> Outcome:
        if self.cancel_requested:
            error: BaseException = JobCancelledError(job=self.record.label)
            error.__cause__ = cause
            return Outcome(error=error, cancelled=True)
        assert self.record.timeout is not None
        error = JobTimeoutError(job=self.record.label, timeout=self.record.timeout)
        error.__cause__ = cause
        return Outcome(error=error)


async def _invoke(record: JobRecord) -> object:
    function, args, kwargs = record.function, record.args, record.kwargs
    if record.executor == "thread":
        call = functools.partial(function, *args, **kwargs)
        # A thread cannot be interrupted: on cancel or timeout it is abandoned,
        # and whatever it returns later is dropped.
        return await anyio.to_thread.run_sync(call, abandon_on_cancel=True)
    if record.executor == "process":
        return await _invoke_in_process(record)
    result = function(*args, **kwargs)
    if inspect.isawaitable(result):
        result = await result
    return result


async def _invoke_in_process(record: JobRecord) -> object:
    payload = _codec.dumps_call(record.function, record.args, record.kwargs, hint="")
    try:
        return await anyio.to_process.run_sync(_codec.run_pickled_call, payload, cancellable=True)
    except _codec.ProcessExit as exit_:
        raise SystemExit(exit_.code) from None  # as if on the loop or in a thread
    except BrokenWorkerProcess as broken:
        # anyio dropped the dead process from its pool: the next job gets a new one.
        raise _process_lost(record, broken) from broken


def _process_lost(record: JobRecord, broken: BrokenWorkerProcess) -> JobError:
    guard = _guard_error(broken.__cause__)
    if guard is not None:  # the worker re-ran the script as it started, and it started a queue
        return JobMainGuardError(script=guard.script)
    return JobLostError(
        job=record.label,
        detail="its worker process died while running it (killed by a signal, out of "
        "memory, or os._exit()); the process pool starts a new one",
    )


def _guard_error(error: BaseException | None) -> JobMainGuardError | None:
    """The `JobMainGuardError` in *error*, its causes or its groups, if any."""
    if error is None or isinstance(error, JobMainGuardError):
        return error
    if isinstance(error, BaseExceptionGroup):
        for inner in error.exceptions:
            found = _guard_error(inner)
            if found is not None:
                return found
    return _guard_error(error.__cause__ or error.__context__)


_current_attempt: ContextVar[Attempt | None] = ContextVar("actorlib_job", default=None)


def report_progress(done: float, total: float | None = None, note: str | None = None) -> None:
    """Report how far the running job has got; call it from inside a job function.

    Works from async jobs and from sync jobs in a worker thread. The update
    reaches ``handle.progress()`` iterators and is published as `JobProgress`.

    Args:
        done: units done so far.
        total: units in all, if known.
        note: a short text, e.g. the current step.

    Raises:
        RuntimeError: called outside a running job (or in a process job,
            whose process cannot reach the queue).
        TypeError, ValueError: a non-number or negative count, a non-str note.
    """
    attempt = _current_attempt.get()
    if attempt is None:
        raise RuntimeError(
            "report_progress() must be called from inside a running job (a function "
            "submitted to a JobQueue, run by the queue); jobs run with executor='process' "
            "cannot report progress"
        )
    attempt.report(check_progress(done, total, note))


def current_job_id() -> str | None:
    """The id of the job running in this context, or None outside a job."""
    attempt = _current_attempt.get()
    return None if attempt is None else attempt.record.id
