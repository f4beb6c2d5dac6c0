"""Hooks the core calls on objects that packages above it set on a system; no implementation."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractContextManager
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


class AskTrace(Protocol):
    """The client span of one ask (`Tracing.start_ask`), ended when the ask ends."""

    def end(self, error: BaseException | None, *, done: bool) -> None:
        """The ask ended: answered (*done*; *error* if it failed), or abandoned (cancelled)."""
        ...


class TraceSpan(Protocol):
    """A span opened by `Tracing.span` for the layers above the core (jobs)."""

    @property
    def context(self) -> object:
        """The trace context with this span current (for `Tracing.export`)."""
        ...

    def finish(
        self, outcome: str, error: BaseException | None, attributes: Mapping[str, str | int]
    ) -> None:
        """Record how it ended (*error* as an exception event); the block's exit ends it."""
        ...


class Tracing(Protocol):
    """Traces messages of a system (`ActorSystem.tracing`); set by ``actorlib.observability``.

    While it is None (the default) envelopes carry no trace context and plain
    tells pay nothing. While it is set, every tell goes through `Cell.post`,
    which captures the sender's trace context into the envelope, and asks are
    never answered in the asker's task, so each handling gets its span.
    Context crossing a process boundary (a remote link, a job record) travels
    as text: `export` makes it, `load` reads it back. An actor class whose
    ``actorlib_traced`` attribute is False (the job queues' own actors) gets
    no handling spans.
    """

    def capture(self) -> object:
        """The current trace context, opaque, for an envelope (None: nothing to carry)."""
        ...

    def start_ask(self, recipient: str, envelope: Any) -> AskTrace:
        """Open the client span of an ask to *recipient*; set the envelope's ``trace``."""
        ...

    def export(self, context: object) -> str | None:
        """*context* (from `capture` or `load`; None: the current one) as bounded text."""
        ...

    def load(self, text: object) -> object:
        """Context from `export`'s text; None if *text* is not a valid, bounded context."""
        ...

    def span(
        self, name: str, parent: object, kind: str, attributes: Mapping[str, str | int]
    ) -> AbstractContextManager[TraceSpan]:
        """A span current for the block: under *parent* (None: the current context).

        *kind* is ``"producer"``, ``"consumer"``, ``"client"`` or ``"internal"``.
        """
        ...
