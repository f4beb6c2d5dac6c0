"""The exceptions of actorlib.jobs; knows nothing about queues or stores.

    ActorError (actorlib)
    └── JobError                    base of every error the job queue raises
        ├── JobTimeoutError         also a TimeoutError: an attempt ran past its timeout
        ├── JobCancelledError       the job was cancelled before it finished
        ├── JobExitError            the job called sys.exit(): a failure, not the worker's exit
        ├── JobLostError            the job's outcome could not be kept (unpicklable result)
        ├── JobQueueClosedError     also a RuntimeError: the queue is not accepting work
        └── JobSerializationError   also a TypeError: a function or argument cannot be pickled

Like the core's errors, each is an attrs class whose message is built from its
fields, so it pickles intact into a durable store.
"""

from __future__ import annotations

import attrs

from .._errors import ActorError


@attrs.define(auto_exc=True, str=False, repr=False, slots=False)
class JobError(ActorError):
    """Base class of every error raised by actorlib.jobs itself."""


@attrs.define(auto_exc=True, str=False, repr=False, slots=False)
class JobTimeoutError(JobError, TimeoutError):
    """An attempt of a job ran longer than its timeout (it counts as a failure).

    Attributes:
        job: the job's name and id.
        timeout: the timeout in seconds.
    """

    job: str = ""
    timeout: float = 0.0

    def __str__(self) -> str:
        return (
            f"job {self.job} ran longer than its timeout of {self.timeout:g} s; "
            f"raise submit(..., timeout=...) or make the job faster"
        )


@attrs.define(auto_exc=True, str=False, repr=False, slots=False)
class JobCancelledError(JobError):
    """The job was cancelled: a queued job never started, a running one was interrupted.

    Attributes:
        job: the job's name and id.
    """

    job: str = ""

    def __str__(self) -> str:
        return f"job {self.job} was cancelled"


@attrs.define(auto_exc=True, str=False, repr=False, slots=False)
class JobExitError(JobError):
    """The job called ``sys.exit()`` (raised `SystemExit`): its attempt failed.

    A job cannot stop the worker that runs it, whatever executor it runs in;
    the exit counts as an error of that attempt, retried like any other.

    Attributes:
        job: the job's name and id.
        code: the exit code it passed (None for a bare ``sys.exit()``).
    """

    job: str = ""
    code: object = None

    def __str__(self) -> str:
        return (
            f"job {self.job} called sys.exit({self.code!r}); a job cannot stop its worker: "
            f"raise an exception to fail it, or return to succeed"
        )


@attrs.define(auto_exc=True, str=False, repr=False, slots=False)
class JobLostError(JobError):
    """The job ended but its outcome could not be kept in the store.

    Attributes:
        job: the job's name and id.
        detail: what could not be kept, and why.
    """

    job: str = ""
    detail: str = ""

    def __str__(self) -> str:
        return f"the outcome of job {self.job} could not be stored: {self.detail}"


@attrs.define(auto_exc=True, str=False, repr=False, slots=False)
class JobQueueClosedError(JobError, RuntimeError):
    """The queue is closed (or not started), so it cannot take or track this job.

    Attributes:
        operation: what was attempted.
    """

    operation: str = ""

    def __str__(self) -> str:
        return (
            f"cannot {self.operation}: the job queue is closed; use it inside "
            f"`async with JobQueue(system, ...) as queue:` or after `await JobQueue.start(...)`"
        )


@attrs.define(auto_exc=True, str=False, repr=False, slots=False)
class JobSerializationError(JobError, TypeError):
    """A job's function or arguments cannot be pickled, so the job cannot be stored or shipped.

    Attributes:
        function: the job function's qualified name.
        detail: the pickling error.
        hint: what to do instead.
    """

    function: str = ""
    detail: str = ""
    hint: str = ""

    def __str__(self) -> str:
        return f"cannot pickle job {self.function}: {self.detail}; {self.hint}"
