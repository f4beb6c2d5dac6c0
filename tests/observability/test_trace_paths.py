"""Trace context on the paths beside tell and ask: send (backpressure), stops and the
Terminated notices they cause (on one node and across a link), and periodic job ticks."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import attrs
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from actorlib import Actor, ActorRef, ActorSystem, Mailbox, Terminated
from actorlib.jobs import JobQueue
from actorlib.observability import OpenTelemetryTracing
from actorlib.remote import MemoryNetwork, MemoryTransport, NodeTransport
from actorlib.testing import VirtualClock
from tests.helpers import Probe

pytestmark = pytest.mark.anyio

SECRET = b"observability-test-secret-32byte"


@attrs.frozen
class Forward:
    """Send (with backpressure) *text* to *target*."""

    target: ActorRef[Any]
    text: str


class Sender(Actor):
    async def receive(self, message: object) -> object:
        assert isinstance(message, Forward)
        await message.target.send(message.text)
        return None


class Watcher(Actor):
    """Watches *target* from its start; puts the Terminated it gets into *probe*."""

    def __init__(self, target: ActorRef[Any], probe: Probe) -> None:
        self.target, self.probe = target, probe

    async def on_start(self) -> None:
        self.context.watch(self.target)
        self.probe.put("watching")

    async def receive(self, message: object) -> object:
        self.probe.put(message)
        return None


class Quitter(Actor):
    """Stops itself when told "quit"."""

    async def receive(self, message: object) -> object:
        if message == "quit":
            self.context.stop()
        return None


@attrs.frozen
class _Nodes:
    """Two traced nodes linked in memory, and A's peer handle on B."""

    a: ActorSystem
    b: ActorSystem
    peer: Any

    async def spawn_on_b(self, actor_class: type[Actor], *args: object, **options: Any) -> Any:
        """Spawn on B; the ref as A sees it across the link."""
        name = options["name"]
        await self.b.spawn(actor_class, *args, **options)
        ref = await self.peer.lookup(name)
        assert ref is not None
        return ref


@contextlib.asynccontextmanager
async def _two_nodes(provider: TracerProvider) -> AsyncIterator[_Nodes]:
    network = MemoryNetwork()
    transport_a: NodeTransport = MemoryTransport(network, secret=SECRET)
    transport_b: NodeTransport = MemoryTransport(network, secret=SECRET)
    tracing = OpenTelemetryTracing(provider)
    async with (
        ActorSystem("b", transport=transport_b) as system_b,
        ActorSystem("a", transport=transport_a) as system_a,
    ):
        tracing.watch(system_a)
        tracing.watch(system_b)
        peer = await transport_a.connect(transport_b.address or "")
        yield _Nodes(system_a, system_b, peer)


@contextlib.asynccontextmanager
async def _watching_across_a_link(
    provider: TracerProvider,
) -> AsyncIterator[tuple[ActorSystem, ActorRef[Any], Probe]]:
    """A Quitter on node B that a Watcher on node A watches: yields A, the
    Quitter's ref and the Watcher's probe."""
    probe = Probe()
    async with _two_nodes(provider) as nodes:
        quitter = await nodes.spawn_on_b(Quitter, name="quitter")
        await nodes.a.spawn(Watcher, quitter, probe, name="watcher")
        await probe.wait_for(lambda items: "watching" in items)
        yield nodes.a, quitter, probe


class Sink(Actor):
    def __init__(self, probe: Probe) -> None:
        self.probe = probe

    async def receive(self, message: object) -> object:
        self.probe.put(message)
        return None


@pytest.fixture
def traced() -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider, exporter
    provider.shutdown()


def one(spans: tuple[ReadableSpan, ...], name: str) -> ReadableSpan:
    [span] = [span for span in spans if span.name == name]
    return span


def child_of(child: ReadableSpan, parent: ReadableSpan) -> bool:
    assert child.parent is not None, child.name
    assert parent.context is not None
    same: bool = (
        child.parent.span_id == parent.context.span_id
        and child.parent.trace_id == parent.context.trace_id
    )
    return same


async def test_a_send_from_a_handler_carries_its_trace_to_a_local_actor(
    traced: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    provider, exporter = traced
    probe = Probe()
    async with ActorSystem("traced") as system:
        OpenTelemetryTracing(provider).watch(system)
        sink = await system.spawn(Sink, probe, name="sink", mailbox=Mailbox(capacity=1))
        sender = await system.spawn(Sender, name="sender")
        sender.tell(Forward(sink, "hello"))
        await probe.wait_for(lambda items: "hello" in items)
    spans = exporter.get_finished_spans()
    assert child_of(one(spans, "actorlib.handle str"), one(spans, "actorlib.handle Forward"))


async def test_a_send_across_a_link_carries_its_trace_to_the_remote_actor(
    traced: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    provider, exporter = traced
    probe = Probe()
    async with _two_nodes(provider) as nodes:
        sink = await nodes.spawn_on_b(Sink, probe, name="sink", mailbox=Mailbox(capacity=1))
        sender = await nodes.a.spawn(Sender, name="sender")
        sender.tell(Forward(sink, "hello"))
        await probe.wait_for(lambda items: "hello" in items)
    spans = exporter.get_finished_spans()
    handled = one(spans, "actorlib.handle str")
    assert dict(handled.attributes or {})["actorlib.system"] == "b"
    assert child_of(handled, one(spans, "actorlib.handle Forward"))


async def test_a_stop_across_a_link_is_a_span_on_the_stopped_actors_node(
    traced: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    provider, exporter = traced
    async with _two_nodes(provider) as nodes:
        sink = await nodes.spawn_on_b(Sink, Probe(), name="sink")
        with provider.get_tracer("test").start_as_current_span("request"):
            await nodes.a.stop(sink)
        assert nodes.b.lookup("/user/sink") is None
    spans = exporter.get_finished_spans()
    stop = one(spans, "actorlib.stop Sink")
    assert stop.kind is SpanKind.CONSUMER
    assert child_of(stop, one(spans, "request"))
    assert dict(stop.attributes or {}) == {
        "actorlib.system": "b",
        "actorlib.actor.path": "/user/sink",
        "actorlib.actor.class": f"{__name__}.Sink",
        "actorlib.outcome": "stopped",
    }


RUNS: list[float] = []


def run_tick() -> None:
    """The periodic job."""
    RUNS.append(1.0)


async def test_each_tick_of_a_periodic_job_starts_a_trace_that_its_run_continues(
    traced: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    provider, exporter = traced
    clock = VirtualClock(start=1000.0)
    RUNS.clear()
    async with ActorSystem("jobs", clock=clock) as system:
        OpenTelemetryTracing(provider).watch(system)
        async with JobQueue(system) as queue:
            await queue.periodic(run_tick, every=10, name="tick")
            await queue.join()
            await clock.advance(10)
            await queue.join()
    assert RUNS == [1.0, 1.0]
    spans = exporter.get_finished_spans()
    job = f"{__name__}.run_tick"
    ticks = [span for span in spans if span.name == "actorlib.job.tick tick"]
    attempts = [span for span in spans if span.name == f"actorlib.job.attempt {job}"]
    assert len(ticks) == len(attempts) == 2
    assert ticks[0].context.trace_id != ticks[1].context.trace_id
    for tick, attempt in zip(ticks, attempts, strict=True):
        assert tick.parent is None
        assert tick.kind is SpanKind.PRODUCER
        assert child_of(attempt, tick)
        attributes = dict(tick.attributes or {})
        assert attributes["actorlib.job.periodic"] == "tick"
        assert attributes["actorlib.job.created"] == 1
        assert dict(attempt.attributes or {})["actorlib.outcome"] == "succeeded"


def terminated(items: list[object]) -> bool:
    return any(isinstance(item, Terminated) for item in items)


async def test_the_terminated_notice_of_a_stop_continues_the_stoppers_trace(
    traced: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    provider, exporter = traced
    probe = Probe()
    async with ActorSystem("traced") as system:
        OpenTelemetryTracing(provider).watch(system)
        quitter = await system.spawn(Quitter, name="quitter")
        await system.spawn(Watcher, quitter, probe, name="watcher")
        await probe.wait_for(lambda items: "watching" in items)
        with provider.get_tracer("test").start_as_current_span("request"):
            await system.stop(quitter)
        await probe.wait_for(terminated)
    spans = exporter.get_finished_spans()
    assert child_of(one(spans, "actorlib.handle Terminated"), one(spans, "request"))


async def test_a_terminated_notice_across_a_link_continues_the_trace_that_stopped_the_actor(
    traced: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    provider, exporter = traced
    async with _watching_across_a_link(provider) as (_, quitter, probe):
        with provider.get_tracer("test").start_as_current_span("request"):
            quitter.tell("quit")  # on node B, the handler stops its own actor
        await probe.wait_for(terminated)
    spans = exporter.get_finished_spans()
    quit_handled = one(spans, "actorlib.handle str")
    notice_handled = one(spans, "actorlib.handle Terminated")
    assert dict(quit_handled.attributes or {})["actorlib.system"] == "b"
    assert dict(notice_handled.attributes or {})["actorlib.system"] == "a"
    assert child_of(quit_handled, one(spans, "request"))
    assert child_of(notice_handled, quit_handled)


async def test_a_remote_stop_and_its_terminated_notice_share_the_stoppers_trace(
    traced: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    provider, exporter = traced
    async with _watching_across_a_link(provider) as (system_a, quitter, probe):
        with provider.get_tracer("test").start_as_current_span("request"):
            await system_a.stop(quitter)
        await probe.wait_for(terminated)
    spans = exporter.get_finished_spans()
    request = one(spans, "request")
    assert child_of(one(spans, "actorlib.stop Quitter"), request)
    assert child_of(one(spans, "actorlib.handle Terminated"), request)
