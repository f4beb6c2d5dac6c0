"""Hooks the core calls on objects that packages above it set on a system; no implementation."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol


class HandlerObserver(Protocol):
    """Wraps each handler call of a system's message loop (`ActorSystem.handler_observer`).

    Set by an observability layer (``actorlib.observability``) to time handlers
    or open spans; when it is None the loop calls the handler itself, so
    nothing is paid.
    """

    async def observe(
        self, cell: Any, handler: Callable[[Any], Awaitable[object]], message: object
    ) -> object:
        """Return ``await handler(message)`` (its exception propagates unchanged)."""
        ...
