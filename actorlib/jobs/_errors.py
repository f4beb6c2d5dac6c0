"""The exceptions of actorlib.jobs; knows nothing about queues or stores.

    ActorError (actorlib)
    └── JobError                    base of every error the job queue raises
        ├── JobTimeoutError         also a TimeoutError: an attempt ran past its timeout
        ├── JobCancelledError       the job was cancelled before it finished
        ├── JobDependencyError      a prerequisite (submit(..., after=...)) failed or was
        │                           cancelled, so the job never ran
        ├── JobExitError            the job called sys.exit(): a failure, not the worker's exit
        ├── JobLostError            the job's outcome could not be kept (crashed worker, killed
        │                           process, unpicklable result)
        ├── JobMainGuardError       also a RuntimeError: a process job's worker re-ran an
        │                           unguarded main script
        ├── JobQueueClosedError     also a RuntimeError: the queue is not accepting work
        ├── JobSerializationError   also a TypeError: a function or argument cannot be pickled
        └── JobStoreUnavailableError  also a ConnectionError: the store's server cannot be
                                    reached now (down, restarting, cut off)

Like the core's errors, each is an attrs class whose message is built from its
fields, so it pickles intact into a durable store.
"""

from __future__ import annotations

import attrs

from .._errors import ActorError

_MAX_ERROR = 300  # characters of an error's message in a one-line record


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
class JobDependencyError(JobError):
    """The job never ran: a job it was submitted ``after=`` failed for good or was cancelled.

    The store fails the dependent job in the same commit that ends its
    prerequisite; the dependent's own dependents then fail the same way,
    each naming its own prerequisite.

    Attributes:
        job: the dependent job's name and id.
        prerequisite: the prerequisite's name and id.
        status: how the prerequisite ended: ``"failed"`` or ``"cancelled"``.
    """

    job: str = ""
    prerequisite: str = ""
    status: str = ""

    def __str__(self) -> str:
        return (
            f"job {self.job} did not run: its prerequisite {self.prerequisite} {self.status}; "
            f"a job runs only after every job in its after= has succeeded (give the "
            f"prerequisite a Retry, or submit the job again after one that succeeds)"
        )


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
    """The attempt's outcome was lost: its worker crashed or its process died under it,
    or what it returned cannot be kept in the store. Retried like any error.

    Attributes:
        job: the job's name and id.
        detail: what was lost, and why.
    """

    job: str = ""
    detail: str = ""

    def __str__(self) -> str:
        return f"the outcome of job {self.job} was lost: {self.detail}"


@attrs.define(auto_exc=True, str=False, repr=False, slots=False)
class JobMainGuardError(JobError, RuntimeError):
    """A process job's worker process re-ran the main script, and the script started a queue.

    Worker processes run the parent's main script again (as ``__mp_main__``,
    like multiprocessing's spawn start method) to find functions defined in
    it; a script that is not guarded by ``if __name__ == "__main__":`` would
    start its whole program again in every worker.

    Attributes:
        script: the path of the main script.
    """

    script: str = ""

    def __str__(self) -> str:
        return (
            f"a process job's worker process ran the main script {self.script!r} again and it "
            f"started a JobQueue: worker processes import the main module (as multiprocessing's "
            f'spawn does); guard the script\'s entry point with `if __name__ == "__main__":`, '
            f"or define the job functions in a module the script imports"
        )


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


@attrs.define(auto_exc=True, str=False, repr=False, slots=False)
class JobStoreUnavailableError(JobError, ConnectionError):
    """The job store's server cannot be reached now: it is down, restarting or cut off.

    Raised by a call of the queue (a submit, a lookup, a count) or by a store's
    own method; the driver's error is its ``__cause__``. The queue itself rides
    the outage out: its workers keep what they could not commit and try again.

    Attributes:
        store: the store's URL (without its password).
        reason: the driver's error, in one line.
        hint: what to do (by default: try again, and how a submit's retry is safe).
    """

    store: str = ""
    reason: str = ""
    hint: str = (
        "try again once it answers (a submit whose connection was lost during the call "
        "may have been stored: submit with key= to make a retry safe)"
    )

    def __str__(self) -> str:
        return f"the job store {self.store} cannot be reached ({self.reason}); {self.hint}"


def short_error(error: BaseException | None, *, first_line: bool = False) -> str:
    """``Type: message``, the message cut to a few hundred characters (to its first
    line too, with *first_line*: a driver's message goes on with hints)."""
    if error is None:
        return "?"
    text = str(error)
    if first_line:
        text = next(iter(text.strip().splitlines()), "")
    if len(text) > _MAX_ERROR:
        text = text[: _MAX_ERROR - 3] + "..."
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
