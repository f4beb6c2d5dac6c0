"""How a job's function, arguments and outcome become bytes and back; knows nothing of stores."""

from __future__ import annotations

import importlib
import pickle
from collections.abc import Callable
from typing import Any

import cloudpickle

from ._errors import JobLostError, JobSerializationError


def _pickle(value: object) -> bytes:
    data: bytes = cloudpickle.dumps(value)
    return data


def qualified_name(function: Callable[..., Any]) -> str:
    """``module.qualname`` of a callable, for messages and `JobInfo.name`."""
    module = getattr(function, "__module__", None) or "?"
    name = getattr(function, "__qualname__", None) or type(function).__qualname__
    return f"{module}.{name}"


def import_path(function: Callable[..., Any]) -> str | None:
    """``module:qualname`` if importing it gives back this very object, else None.

    Functions from ``__main__``, closures and lambdas have no import path: a
    worker in another process could not find them by name, so they travel
    pickled by value instead.
    """
    module = getattr(function, "__module__", None)
    qualname = getattr(function, "__qualname__", None)
    if not module or not qualname or module == "__main__" or "<" in qualname:
        return None
    try:
        found = resolve(f"{module}:{qualname}")
    except (ImportError, AttributeError):
        return None
    return f"{module}:{qualname}" if found is function else None


def resolve(path: str) -> Any:
    """Import ``module:qualname`` and return the object it names."""
    module_name, _, qualname = path.partition(":")
    target: Any = importlib.import_module(module_name)
    for part in qualname.split("."):
        target = getattr(target, part)
    return target


def dumps_call(
    function: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], hint: str
) -> bytes:
    """Pickle a call with cloudpickle (closures and lambdas work).

    Raises:
        JobSerializationError: the function or an argument cannot be pickled;
            the message names the function and says what to do (*hint*).
    """
    return _pickle_for(function, (function, args, kwargs), "", hint)


def _pickle_for(function: Callable[..., Any], value: object, what: str, hint: str) -> bytes:
    """Pickle *value*, part of the job *function*; a failure names the function and the fix."""
    try:
        return _pickle(value)
    except Exception as error:
        cause = f"{type(error).__name__}: {error}"
        raise JobSerializationError(
            function=qualified_name(function),
            detail=f"{what} ({cause})" if what else cause,
            hint=hint,
        ) from error


def encode_function(function: Callable[..., Any]) -> bytes:
    """The function by import path where it is importable, otherwise by value.

    Raises:
        JobSerializationError: it has no import path and cannot be pickled.
    """
    path = import_path(function)
    if path is not None:
        return b"I" + path.encode()
    return b"P" + _pickle_for(
        function,
        function,
        "",
        "a durable store keeps the function to run it again after a restart; "
        "define it at module level so it is stored by import path",
    )


def decode_function(data: bytes) -> Callable[..., Any]:
    """The inverse of `encode_function` (imports the module if needed)."""
    kind, body = data[:1], data[1:]
    if kind == b"I":
        function: Callable[..., Any] = resolve(body.decode())
        return function
    loaded: Callable[..., Any] = pickle.loads(body)
    return loaded


def encode_arguments(function: Callable[..., Any], args: tuple[Any, ...], kwargs: object) -> bytes:
    """Pickle the arguments of a stored job.

    Raises:
        JobSerializationError: an argument cannot be pickled.
    """
    return _pickle_for(
        function,
        (args, kwargs),
        "an argument cannot be pickled",
        "a durable store keeps the arguments; pass plain data (ids, paths) instead "
        "of live objects such as connections or locks",
    )


def encode_outcome(value: object, label: str) -> bytes:
    """Pickle a result or an error for the store; an unpicklable one becomes `JobLostError`."""
    try:
        return _pickle(value)
    except Exception as error:
        lost = JobLostError(
            job=label,
            detail=f"{type(value).__name__} {value!r:.200} cannot be pickled into the store "
            f"({type(error).__name__}: {error})",
        )
        return _pickle(lost)


def decode(data: bytes | None) -> Any:
    """Unpickle what `encode_outcome`, `encode_arguments` or `dumps_call` made."""
    return None if data is None else pickle.loads(data)


class ProcessExit(Exception):
    """A process job called ``sys.exit()``: carried back to the parent, which fails the attempt.

    Raised in the worker process instead of `SystemExit`, which would end the
    worker process after it answered (and the next job would find it dead).
    """

    @property
    def code(self) -> object:
        """The exit code the job passed."""
        return self.args[0] if self.args else None


def run_pickled_call(payload: bytes) -> Any:
    """Run a cloudpickled call in a worker process (async functions get their own loop).

    Whatever the job raises goes back to the parent as its error, and the
    process lives on for the next job. SIGINT is ignored while the job runs:
    Ctrl+C reaches every process of the terminal, and stopping is the
    parent's to decide (it kills the process of a job it interrupts).

    Raises:
        ProcessExit: the job called ``sys.exit()``.
        JobMainGuardError: this worker re-ran an unguarded main script.
    """
    import asyncio
    import inspect
    import signal

    from ._mainguard import check_main_guard

    check_main_guard()
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        function, args, kwargs = pickle.loads(payload)
        result = function(*args, **kwargs)
        if inspect.isawaitable(result):
            result = asyncio.run(_await(result))
        return result
    except SystemExit as exit_:
        raise ProcessExit(exit_.code) from None
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


async def _await(awaitable: Any) -> Any:
    return await awaitable
