"""The cost of tracing: ping-pong and fan-in with tracing off and on, beside no tracing, in one run.

The actorlib column is tracing *off*: an OpenTelemetry SDK is configured and
an `OpenTelemetryTracing` exists, but the system is not watched, so a plain
tell appends its tuple as it always did; the raw column is the same work on a
plain system (the metrics-off baseline of benchmarks/metrics.py). Tracing
*on* (the ``+tracing`` peer) makes a span per message and per ask, sent to an
SDK span processor that drops them: its cost is large, and reported as such.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

from actorlib.observability import OpenTelemetryTracing
from benchmarks._scenario import Peer, RatioAtLeast, Scenario
from benchmarks.fanin import SENDERS
from benchmarks.metrics import Instrument, _fanin, _off, _pingpong


class _Discard(SpanExporter):
    """Takes every span and keeps none: the cost measured is making them."""

    def export(self, spans: object) -> SpanExportResult:
        return SpanExportResult.SUCCESS


async def _with_tracer(
    run: Callable[[int, Instrument], Awaitable[float]], size: int, *, on: bool
) -> float:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(_Discard()))
    tracing = OpenTelemetryTracing(provider)
    try:
        return await run(size, tracing.watch if on else _off)
    finally:
        provider.shutdown()


async def pingpong_tracing_off(round_trips: int) -> float:
    """Ping-pong with tell; an SDK and a tracer exist, the system is not traced."""
    return await _with_tracer(_pingpong, round_trips, on=False)


async def pingpong_tracing_on(round_trips: int) -> float:
    """Ping-pong with tell on a traced system: a span per message."""
    return await _with_tracer(_pingpong, round_trips, on=True)


async def pingpong_plain(round_trips: int) -> float:
    """Ping-pong with tell on a plain system (no SDK, no tracer)."""
    return await _pingpong(round_trips, _off)


async def fanin_tracing_off(messages: int) -> float:
    """Fan-in; an SDK and a tracer exist, the system is not traced."""
    return await _with_tracer(_fanin, messages, on=False)


async def fanin_tracing_on(messages: int) -> float:
    """Fan-in on a traced system: a span per message."""
    return await _with_tracer(_fanin, messages, on=True)


async def fanin_plain(messages: int) -> float:
    """Fan-in on a plain system (no SDK, no tracer)."""
    return await _fanin(messages, _off)


SCENARIOS = (
    Scenario(
        name="traces-pingpong",
        unit="round trips/s",
        size=20_000,
        describe=lambda size: f"pingpong-tell, {size:,} round trips: tracing off / plain",
        actorlib=pingpong_tracing_off,
        raw=pingpong_plain,
        target=RatioAtLeast(0.95),
        peer_targets={},
        peers={
            "+tracing": Peer(
                "benchmarks.traces", "pingpong_tracing_on", install="opentelemetry-sdk"
            )
        },
    ),
    Scenario(
        name="traces-fanin",
        unit="msgs/s",
        size=100_000,
        describe=lambda size: (
            f"fanin, {SENDERS} senders x {size // SENDERS:,}: tracing off / plain"
        ),
        actorlib=fanin_tracing_off,
        raw=fanin_plain,
        target=RatioAtLeast(0.95),
        peer_targets={},
        peers={
            "+tracing": Peer("benchmarks.traces", "fanin_tracing_on", install="opentelemetry-sdk")
        },
    ),
)
