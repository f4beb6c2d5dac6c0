"""One trace follows a request across actors, nodes (TCP) and a job run by another queue."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import attrs
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from actorlib import Actor, ActorRef, ActorSystem
from actorlib.jobs import JobQueue
from actorlib.observability import OpenTelemetryTracing
from actorlib.remote import SocketTransport
from tests.jobs.stores import DURABLE_KINDS, make_kind
from tests.remote.conftest import SECRET

pytestmark = pytest.mark.anyio

POLL = 0.05  # SQLite has no notifications: the worker polls


@attrs.frozen
class Order:
    """Double *n* in a job; answered with the job's id."""

    n: int


def double(n: int) -> int:
    """The job."""
    return 2 * n


class Front(Actor):
    """On node B: submits each order as a job."""

    def __init__(self, queue: JobQueue) -> None:
        self.queue = queue

    async def receive(self, message: object) -> str:
        assert isinstance(message, Order)
        handle = await self.queue.submit(double, message.n)
        return handle.id


class Client(Actor):
    """On node A: asks B's front for each number it is asked."""

    def __init__(self, front: ActorRef[Any]) -> None:
        self.front = front

    async def receive(self, message: object) -> object:
        assert isinstance(message, int)
        return await self.front.ask(Order(message))


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


@pytest.mark.parametrize("kind", DURABLE_KINDS)
async def test_one_trace_follows_a_request_across_actors_nodes_and_a_job_on_another_queue(
    kind: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    traced: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    provider, exporter = traced
    url = make_kind(kind, request, tmp_path).url
    transport_a = SocketTransport("tcp://127.0.0.1:0", secret=SECRET)
    transport_b = SocketTransport("tcp://127.0.0.1:0", secret=SECRET)
    tracing = OpenTelemetryTracing(provider)
    async with (
        ActorSystem("b", transport=transport_b) as system_b,
        ActorSystem("a", transport=transport_a) as system_a,
        ActorSystem("c") as system_c,  # the worker: its own queue on its own store object
    ):
        for system in (system_a, system_b, system_c):
            tracing.watch(system)
        async with (
            JobQueue(system_b, store=url, workers=0, name="orders", poll_interval=POLL) as orders,
            JobQueue(system_c, store=url, workers=1, name="worker", poll_interval=POLL),
        ):
            await system_b.spawn(Front, orders, name="front")
            peer = await transport_a.connect(transport_b.address or "")
            node_b = transport_b.node_id
            front = await peer.lookup("front")
            assert front is not None
            client = await system_a.spawn(Client, front, name="client")
            with provider.get_tracer("test").start_as_current_span("request"):
                job_id = await client.ask(21)
            handle = await orders.get(job_id)
            assert handle is not None
            with anyio.fail_after(10):
                assert await handle.result() == 42
    spans = exporter.get_finished_spans()
    job = "tests.observability.test_trace_journey.double"
    chain = [
        one(spans, "request"),
        one(spans, "actorlib.ask int"),  # node A, the test's ask
        one(spans, "actorlib.handle int"),  # node A, Client
        one(spans, "actorlib.ask Order"),  # node A, over TCP
        one(spans, "actorlib.handle Order"),  # node B, Front
        one(spans, f"actorlib.job.submit {job}"),  # node B, the orders queue
        one(spans, f"actorlib.job.attempt {job}"),  # system C's worker
    ]
    trace_id = chain[0].context.trace_id
    assert chain[0].parent is None
    for parent, child in itertools.pairwise(chain):
        assert child.context.trace_id == trace_id, child.name
        assert child.parent is not None, child.name
        assert child.parent.span_id == parent.context.span_id, child.name
    attributes = [dict(span.attributes or {}) for span in chain]
    assert [a.get("actorlib.system") for a in attributes[1:]] == ["a", "a", "a", "b", "b", "c"]
    assert attributes[3]["actorlib.recipient.path"] == f"actorlib://{node_b}/user/front"
    assert attributes[4]["actorlib.actor.path"] == "/user/front"
    assert attributes[6]["actorlib.job.id"] == job_id
    assert attributes[6]["actorlib.outcome"] == "succeeded"
