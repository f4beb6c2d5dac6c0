"""Traces of actor systems and their job queues through the OpenTelemetry trace API.

The core, remote links and job queues call the `Tracing` hook a system holds
(actorlib._hooks); this module is that hook on OpenTelemetry. Context travels
in envelopes as an OpenTelemetry ``Context``, and across processes (link
frames, job records) as a W3C ``traceparent`` string, checked on the way in.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from actorlib import ActorSystem, AskTimeout, Failure, __version__
from actorlib._messages import Envelope

from ._observers import add_observer

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.trace import Span, Tracer, TracerProvider

EXTRA_HINT = 'install the otel extra: pip install "actorlib[otel]"'

#: A W3C traceparent of version 00: the only trace text accepted from outside.
TRACEPARENT = re.compile(r"00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}")
TRACEPARENT_LENGTH = 55


def _api() -> None:
    try:
        import opentelemetry.trace  # noqa: F401
    except ImportError as error:
        raise ImportError(
            f"actorlib.observability's OpenTelemetry traces need opentelemetry-api; {EXTRA_HINT}"
        ) from error


def _label(kind: type) -> str:
    return f"{kind.__module__}.{kind.__qualname__}"


class _AskSpan:
    """The client span of one ask (the `AskTrace` hook)."""

    __slots__ = ("span",)

    def __init__(self, span: Span) -> None:
        self.span = span

    def end(self, error: BaseException | None, *, done: bool) -> None:
        span = self.span
        if not done:
            outcome = "cancelled"
        elif error is None:
            outcome = "ok"
        else:
            outcome = "timeout" if isinstance(error, AskTimeout) else "error"
            _failed(span, error)
        span.set_attribute("actorlib.outcome", outcome)
        span.end()


class _JobSpan:
    """A span of the jobs layer (the `TraceSpan` hook)."""

    __slots__ = ("context", "span")

    def __init__(self, span: Span, context: Context) -> None:
        self.span = span
        self.context = context

    def finish(
        self, outcome: str, error: BaseException | None, attributes: Mapping[str, str | int]
    ) -> None:
        self.span.set_attributes({"actorlib.outcome": outcome, **attributes})
        if error is not None:
            _failed(self.span, error)


def _failed(span: Span, error: BaseException) -> None:
    from opentelemetry.trace import Status, StatusCode

    span.record_exception(error)
    span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"[:200]))


class SystemTracing:
    """The `Tracing` hook and the handler observer of one traced system."""

    def __init__(self, tracer: Tracer, system: ActorSystem) -> None:
        from opentelemetry import context, trace
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        self._tracer = tracer
        self._system = system.name
        self._trace = trace
        self._context = context
        self._root = context.Context()
        self._propagator = TraceContextTextMapPropagator()
        self._kinds = {
            "producer": trace.SpanKind.PRODUCER,
            "consumer": trace.SpanKind.CONSUMER,
            "client": trace.SpanKind.CLIENT,
            "internal": trace.SpanKind.INTERNAL,
        }
        self._names: dict[type, str] = {}
        self._classes: dict[type, str | None] = {}

    def capture(self) -> object:
        """Tracing hook: the current context."""
        return self._context.get_current()

    def start_ask(self, recipient: str, envelope: Any) -> _AskSpan:
        """Tracing hook: the client span of an ask, its context into the envelope."""
        kind = type(envelope.message)
        span = self._tracer.start_span(
            f"actorlib.ask {kind.__name__}",
            kind=self._trace.SpanKind.CLIENT,
            attributes={
                "actorlib.system": self._system,
                "actorlib.recipient.path": recipient,
                "actorlib.message.type": _label(kind),
            },
        )
        envelope.trace = self._trace.set_span_in_context(span)
        return _AskSpan(span)

    def export(self, context: object) -> str | None:
        """Tracing hook: *context* as a traceparent (None if it holds no valid span)."""
        carrier: dict[str, str] = {}
        self._propagator.inject(carrier, context=context)  # type: ignore[arg-type]
        return carrier.get("traceparent")

    def load(self, text: object) -> object:
        """Tracing hook: the context of a traceparent; None for anything else."""
        if type(text) is not str or len(text) != TRACEPARENT_LENGTH:
            return None
        if TRACEPARENT.fullmatch(text) is None:
            return None
        return self._propagator.extract({"traceparent": text}, context=self._root)

    @contextmanager
    def span(
        self, name: str, parent: object, kind: str, attributes: Mapping[str, str | int]
    ) -> Iterator[_JobSpan]:
        """Tracing hook: a span current for the block."""
        with self._tracer.start_as_current_span(
            name,
            context=parent,  # type: ignore[arg-type]
            kind=self._kinds[kind],
            attributes={"actorlib.system": self._system, **attributes},
        ) as span:
            yield _JobSpan(span, self._context.get_current())

    async def observe(
        self, cell: Any, handler: Callable[[Any], Awaitable[object]], message: object
    ) -> object:
        """HandlerObserver protocol: ``await handler(message)`` in its span."""
        actor_class = self._class_label(cell.factory[0])
        if actor_class is None:
            return await handler(message)
        item = cell.current
        parent = item.trace if type(item) is Envelope else None
        kind = type(message)
        name = self._names.get(kind)
        if name is None:
            name = self._names[kind] = f"actorlib.handle {kind.__name__}"
        with self._tracer.start_as_current_span(
            name,
            context=parent if parent is not None else self._root,  # type: ignore[arg-type]
            kind=self._trace.SpanKind.CONSUMER,
            attributes={
                "actorlib.system": self._system,
                "actorlib.actor.path": cell.path,
                "actorlib.actor.class": actor_class,
                "actorlib.message.type": _label(kind),
            },
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            try:
                result = await handler(message)
            except Exception as error:
                span.set_attribute("actorlib.outcome", "error")
                _failed(span, error)
                raise
            if type(result) is Failure:
                span.set_attribute("actorlib.outcome", "error")
                _failed(span, result.error)
            else:
                span.set_attribute("actorlib.outcome", "ok")
            return result

    def _class_label(self, actor_class: type) -> str | None:
        try:
            return self._classes[actor_class]
        except KeyError:
            traced = getattr(actor_class, "actorlib_traced", True)
            label = self._classes[actor_class] = _label(actor_class) if traced else None
            return label


class OpenTelemetryTracing:
    """Traces actor systems and their job queues through the OpenTelemetry trace API.

    ``OpenTelemetryTracing().watch(system)`` turns tracing on for *system*:
    a span for each message handled (``actorlib.handle <Type>``), each ask
    (``actorlib.ask <Type>``), and, for every job queue on the system, each
    submit (``actorlib.job.submit <function>``) and attempt
    (``actorlib.job.attempt <function>``). The trace context travels with
    each message, across remote links and in job records, so one trace
    follows a request across actors, nodes and job workers. Tracing costs a
    span per message (see docs/observability.md for the measured cost);
    off, it costs nothing. It composes with `time_handlers`.

    Args:
        tracer_provider: where spans go; the global provider
            (``opentelemetry.trace.get_tracer_provider()``) by default.

    Raises:
        ImportError: opentelemetry-api is not installed (the ``otel`` extra).
    """

    def __init__(self, tracer_provider: TracerProvider | None = None) -> None:
        _api()
        from opentelemetry import trace

        provider = tracer_provider if tracer_provider is not None else trace.get_tracer_provider()
        self._tracer = provider.get_tracer("actorlib", __version__)

    def watch(self, system: ActorSystem) -> None:
        """Trace *system* (and its job queues, remote node) from now on.

        Idempotent for a system already traced (by any `OpenTelemetryTracing`).

        Raises:
            TypeError: *system* is not an ActorSystem.
        """
        if not isinstance(system, ActorSystem):
            raise TypeError(f"watch() expects an ActorSystem, got {system!r}")
        if system.tracing is not None:
            return
        tracing = add_observer(system, SystemTracing, lambda: SystemTracing(self._tracer, system))
        system.tracing = tracing
        # A cell that cached its user lane for plain tells must now post each
        # tell, for it to carry its sender's trace (Cell._lane_for_tell).
        for cell in system._registry:
            cell.inbox = None
