"""`actorlib.run`: the entry point for scripts, a thin layer over `anyio.run`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import anyio

T = TypeVar("T")

_BACKENDS = ("asyncio", "trio")


def run(
    main: Callable[..., Awaitable[T]],
    *args: object,
    backend: str = "asyncio",
    backend_options: Mapping[str, Any] | None = None,
) -> T:
    """Run ``main(*args)`` on an anyio event loop and return its result.

    Args:
        main: an async function, typically one that opens an `ActorSystem`.
        args: positional arguments for *main*.
        backend: ``"asyncio"`` (default) or ``"trio"``.
        backend_options: passed to anyio, e.g. ``{"use_uvloop": True}`` on asyncio.

    Raises:
        ValueError: an unknown backend.
        TypeError: *main* is not callable.
    """
    if backend not in _BACKENDS:
        raise ValueError(
            f"backend must be one of {', '.join(map(repr, _BACKENDS))}, got {backend!r}"
        )
    if not callable(main):
        raise TypeError(f"run() expects an async function to call, got {main!r}")
    options = dict(backend_options) if backend_options else None
    return anyio.run(main, *args, backend=backend, backend_options=options)
