"""What the job queue tells the ``actorlib.jobs`` logger; argument values always shortened.

Levels: an attempt's start and a success at DEBUG, a failed attempt that will
be retried at WARNING (one line), a job that failed for good at ERROR with its
traceback. Every line names the job (``module.function[id]``) and its queue.
Argument values and error messages go through `reprlib`, so a huge argument
never becomes a huge log line.
"""

from __future__ import annotations

import logging
import reprlib

from ._errors import short_error
from ._events import JobCancelled, JobEvent, JobFailed, JobRetrying, JobSucceeded
from ._model import JobRecord

logger = logging.getLogger("actorlib.jobs")

_repr = reprlib.Repr()
_repr.maxstring = 60
_repr.maxother = 60
_repr.maxlong = 40
_repr.maxlevel = 3
_repr.maxlist = _repr.maxtuple = _repr.maxdict = _repr.maxset = 6
_MAX_ARGS = 6  # arguments shown, positional and keyword each


def short_call(record: JobRecord) -> str:
    """``(arg, ..., key=value)``, each value cut by `reprlib`."""
    parts = [_repr.repr(arg) for arg in record.args[:_MAX_ARGS]]
    if len(record.args) > _MAX_ARGS:
        parts.append("...")
    parts += [
        f"{name}={_repr.repr(value)}" for name, value in list(record.kwargs.items())[:_MAX_ARGS]
    ]
    if len(record.kwargs) > _MAX_ARGS:
        parts.append("...")
    return f"({', '.join(parts)})"


def started(queue: str, record: JobRecord) -> None:
    """DEBUG: an attempt starts."""
    if logger.isEnabledFor(logging.DEBUG):
        logger.debug(
            "job %s%s started, attempt %d of %d (queue %r)",
            record.label,
            short_call(record),
            record.attempts,
            record.retry.attempts,
            queue,
        )


def ended(record: JobRecord, event: JobEvent) -> None:
    """Log how an attempt ended, once its outcome is committed."""
    match event:
        case JobSucceeded():
            logger.debug(
                "job %s succeeded on attempt %d (queue %r)",
                record.label,
                record.attempts,
                event.queue,
            )
        case JobRetrying(error=error, delay=delay):
            logger.warning(
                "job %s attempt %d of %d failed, retrying in %.3g s: %s (queue %r)",
                record.label,
                record.attempts,
                record.retry.attempts,
                delay,
                short_error(error),
                event.queue,
            )
        case JobFailed(error=error):
            exc_info = (type(error), error, error.__traceback__) if error is not None else None
            logger.error(
                "job %s%s failed for good on attempt %d of %d: %s (queue %r)",
                record.label,
                short_call(record),
                record.attempts,
                record.retry.attempts,
                short_error(error),
                event.queue,
                exc_info=exc_info,
            )
        case JobCancelled():
            logger.debug("job %s was cancelled (queue %r)", record.label, event.queue)
