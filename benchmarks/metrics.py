"""The cost of metrics: ping-pong and fan-in with OpenTelemetry metrics on, beside off, in one run.

The actorlib column runs with an OpenTelemetry SDK configured and the
system watched by `OpenTelemetryMetrics` (collected once, at the end, as a
scrape would); the raw column is the same work on a plain system, without
any. The handler-time histogram costs more (two clock reads per message):
its row is the ``+handler-time`` peer.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import anyio
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from actorlib import ActorSystem
from actorlib.observability import OpenTelemetryMetrics
from benchmarks._scenario import Peer, RatioAtLeast, Scenario
from benchmarks.fanin import SENDERS, _Counter, _tell_many
from benchmarks.pingpong import _Ping, _Pong

Instrument = Callable[[ActorSystem], None]


def _off(system: ActorSystem) -> None:
    return None


async def _pingpong(round_trips: int, instrument: Instrument) -> float:
    done = anyio.Event()
    async with ActorSystem("bench-metrics-pingpong") as system:
        instrument(system)
        pong = await system.spawn(_Pong)
        ping = await system.spawn(_Ping, pong, round_trips, done)
        start = time.perf_counter()
        ping.tell(0)
        await done.wait()
        return time.perf_counter() - start


async def _fanin(messages: int, instrument: Instrument) -> float:
    per_sender = messages // SENDERS
    done = anyio.Event()
    async with ActorSystem("bench-metrics-fanin") as system:
        instrument(system)
        counter = await system.spawn(_Counter, per_sender * SENDERS, done)
        start = time.perf_counter()
        async with anyio.create_task_group() as tg:
            for _ in range(SENDERS):
                tg.start_soon(_tell_many, counter, per_sender)
        await done.wait()
        return time.perf_counter() - start


async def _with_sdk(
    run: Callable[[int, Instrument], Awaitable[float]], size: int, *, handler_time: bool
) -> float:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    metrics = OpenTelemetryMetrics(provider)
    try:
        elapsed = await run(size, lambda system: metrics.watch(system, handler_time=handler_time))
        assert reader.get_metrics_data() is not None  # one scrape: the counters were read
        return elapsed
    finally:
        provider.shutdown()


async def pingpong_on(round_trips: int) -> float:
    """Ping-pong with tell, metrics on (observable instruments, an SDK configured)."""
    return await _with_sdk(_pingpong, round_trips, handler_time=False)


async def pingpong_off(round_trips: int) -> float:
    """Ping-pong with tell on a system without metrics."""
    return await _pingpong(round_trips, _off)


async def pingpong_handler_time(round_trips: int) -> float:
    """Ping-pong with tell, metrics on and the handler-time histogram recorded."""
    return await _with_sdk(_pingpong, round_trips, handler_time=True)


async def fanin_on(messages: int) -> float:
    """Fan-in, metrics on (observable instruments, an SDK configured)."""
    return await _with_sdk(_fanin, messages, handler_time=False)


async def fanin_off(messages: int) -> float:
    """Fan-in on a system without metrics."""
    return await _fanin(messages, _off)


async def fanin_handler_time(messages: int) -> float:
    """Fan-in, metrics on and the handler-time histogram recorded."""
    return await _with_sdk(_fanin, messages, handler_time=True)


SCENARIOS = (
    Scenario(
        name="metrics-pingpong",
        unit="round trips/s",
        size=20_000,
        describe=lambda size: f"pingpong-tell, {size:,} round trips: metrics on / off",
        actorlib=pingpong_on,
        raw=pingpong_off,
        target=RatioAtLeast(0.9),
        peer_targets={},
        peers={
            "+handler-time": Peer(
                "benchmarks.metrics", "pingpong_handler_time", install="opentelemetry-sdk"
            )
        },
    ),
    Scenario(
        name="metrics-fanin",
        unit="msgs/s",
        size=100_000,
        describe=lambda size: f"fanin, {SENDERS} senders x {size // SENDERS:,}: metrics on / off",
        actorlib=fanin_on,
        raw=fanin_off,
        target=RatioAtLeast(0.9),
        peer_targets={},
        peers={
            "+handler-time": Peer(
                "benchmarks.metrics", "fanin_handler_time", install="opentelemetry-sdk"
            )
        },
    ),
)
