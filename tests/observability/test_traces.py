"""Traces: spans of handling, asks and jobs, with their context carried by envelopes and jobs."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import anyio
import attrs
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from actorlib import Actor, ActorRef, ActorSystem, AskTimeout, Backoff, Mailbox, MailboxFull
from actorlib.jobs import JobQueue, Retry, SqliteStore
from actorlib.observability import OpenTelemetryTracing, time_handlers
from actorlib.observability._tracing import SystemTracing
from tests.helpers import Probe

pytestmark = pytest.mark.anyio


@attrs.frozen
class Relay:
    """Tell *target* the text."""

    target: ActorRef[object]
    text: str


class Echo(Actor):
    def __init__(self, probe: Probe | None = None) -> None:
        self.probe = probe

    async def receive(self, message: object) -> object:
        if message == "fail":
            raise ValueError("asked to fail")
        if isinstance(message, Relay):
            message.target.tell(message.text)
        elif self.probe is not None:
            self.probe.put(message)
        return message


class Sleeper(Actor):
    def __init__(self, gate: anyio.Event, entered: anyio.Event | None = None) -> None:
        self.gate = gate
        self.entered = entered

    async def receive(self, message: object) -> object:
        if self.entered is not None:
            self.entered.set()
        await self.gate.wait()
        return message


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def tracing(exporter: InMemorySpanExporter) -> Iterator[OpenTelemetryTracing]:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield OpenTelemetryTracing(provider)
    provider.shutdown()


def named(spans: tuple[ReadableSpan, ...], name: str) -> list[ReadableSpan]:
    return [span for span in spans if span.name == name]


def parent_of(child: ReadableSpan, parent: ReadableSpan) -> bool:
    assert child.parent is not None
    assert parent.context is not None
    same: bool = (
        child.parent.span_id == parent.context.span_id
        and child.parent.trace_id == parent.context.trace_id
    )
    return same


async def test_an_ask_is_a_client_span_and_its_handling_a_child_span_with_the_outcome(
    tracing: OpenTelemetryTracing, exporter: InMemorySpanExporter
) -> None:
    async with ActorSystem("traced") as system:
        tracing.watch(system)
        echo = await system.spawn(Echo, name="echo")
        assert await echo.ask("hello") == "hello"
        with pytest.raises(ValueError, match="asked to fail"):
            await echo.ask("fail")
    spans = exporter.get_finished_spans()
    [ask_ok, ask_failed] = named(spans, "actorlib.ask str")
    [handled_ok, handled_failed] = named(spans, "actorlib.handle str")
    assert ask_ok.kind is SpanKind.CLIENT
    assert handled_ok.kind is SpanKind.CONSUMER
    assert ask_ok.attributes is not None
    assert handled_ok.attributes is not None
    assert dict(ask_ok.attributes) == {
        "actorlib.system": "traced",
        "actorlib.recipient.path": "/user/echo",
        "actorlib.message.type": "builtins.str",
        "actorlib.outcome": "ok",
    }
    assert dict(handled_ok.attributes) == {
        "actorlib.system": "traced",
        "actorlib.actor.path": "/user/echo",
        "actorlib.actor.class": f"{__name__}.Echo",
        "actorlib.message.type": "builtins.str",
        "actorlib.outcome": "ok",
    }
    assert parent_of(handled_ok, ask_ok)
    assert parent_of(handled_failed, ask_failed)
    assert ask_ok.context.trace_id != ask_failed.context.trace_id  # two roots
    for failed in (ask_failed, handled_failed):
        assert failed.attributes is not None
        assert failed.attributes["actorlib.outcome"] == "error"
        assert failed.status.status_code is StatusCode.ERROR
        [event] = failed.events
        assert event.name == "exception"
        assert event.attributes is not None
        assert event.attributes["exception.type"] == "ValueError"


async def test_an_ask_that_times_out_ends_its_span_with_the_timeout_outcome(
    tracing: OpenTelemetryTracing, exporter: InMemorySpanExporter
) -> None:
    async with ActorSystem("traced") as system:
        tracing.watch(system)
        gate = anyio.Event()
        sleeper = await system.spawn(Sleeper, gate, name="sleeper")
        with pytest.raises(AskTimeout):
            await sleeper.ask("wake up", timeout=0.01)
        gate.set()
    [ask] = named(exporter.get_finished_spans(), "actorlib.ask str")
    assert ask.attributes is not None
    assert ask.attributes["actorlib.outcome"] == "timeout"
    assert ask.status.status_code is StatusCode.ERROR


async def test_a_tell_from_a_handler_carries_its_trace_to_the_next_actor(
    tracing: OpenTelemetryTracing, exporter: InMemorySpanExporter
) -> None:
    probe = Probe()
    async with ActorSystem("traced") as system:
        # Spawned before tracing is on: their cached lanes must not skip the trace.
        first = await system.spawn(Echo, name="first")
        second = await system.spawn(Echo, probe, name="second")
        second.tell("warm up")  # caches second's user lane for plain tells
        await probe.wait_for(lambda items: "warm up" in items)
        tracing.watch(system)
        first.tell(Relay(second, "relayed"))
        await probe.wait_for(lambda items: "relayed" in items)
    spans = exporter.get_finished_spans()
    [relay] = named(spans, "actorlib.handle Relay")
    relayed = [s for s in named(spans, "actorlib.handle str") if s.parent is not None]
    assert len(relayed) == 1
    assert parent_of(relayed[0], relay)
    assert relay.parent is None  # told from outside any span: a new trace


async def test_tracing_and_handler_timing_both_wrap_every_handler(
    tracing: OpenTelemetryTracing, exporter: InMemorySpanExporter
) -> None:
    async with ActorSystem("traced") as system:
        times = time_handlers(system)
        tracing.watch(system)
        tracing.watch(system)  # idempotent
        assert time_handlers(system) is times
        echo = await system.spawn(Echo, name="echo")
        for n in range(3):
            assert await echo.ask(n) == n
    assert len(named(exporter.get_finished_spans(), "actorlib.handle int")) == 3
    [histogram] = times.snapshot()
    assert histogram.count == 3


async def test_a_system_not_watched_makes_no_spans_and_carries_no_context(
    tracing: OpenTelemetryTracing, exporter: InMemorySpanExporter
) -> None:
    async with ActorSystem("traced") as watched, ActorSystem("plain") as plain:
        tracing.watch(watched)
        echo = await plain.spawn(Echo, name="echo")
        assert await echo.ask("hello") == "hello"
        assert plain.tracing is None
        assert plain.handler_observer is None
    assert exporter.get_finished_spans() == ()


def test_tracing_accepts_only_a_w3c_traceparent_from_outside(
    tracing: OpenTelemetryTracing,
) -> None:
    hook = SystemTracing(tracing._tracer, ActorSystem("unstarted"))
    good = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    context = hook.load(good)
    assert context is not None
    assert hook.export(context) == good
    for bad in (
        None,
        b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        good.upper(),
        good + "x",
        "01" + good[2:],
        "x" * 10_000_000,
        55,
    ):
        assert hook.load(bad) is None, bad


@pytest.mark.parametrize("store", ["memory", "sqlite"])
async def test_a_submit_and_each_attempt_of_a_job_are_spans_of_one_trace(
    store: str,
    tracing: OpenTelemetryTracing,
    exporter: InMemorySpanExporter,
    tmp_path: Path,
) -> None:
    url = "memory" if store == "memory" else f"sqlite:///{tmp_path / 'jobs.db'}"
    retry = Retry(attempts=2, backoff=Backoff(min=0.0, max=0.0, factor=1.0, jitter=0.0))
    async with ActorSystem("traced") as system, JobQueue(system, store=url) as queue:
        tracing.watch(system)
        handle = await queue.submit(fail_once, str(tmp_path / "marker"), retry=retry)
        with anyio.fail_after(10):
            assert await handle.result() == "second time lucky"
    spans = exporter.get_finished_spans()
    [submit] = named(spans, "actorlib.job.submit tests.observability.test_traces.fail_once")
    attempts = named(spans, "actorlib.job.attempt tests.observability.test_traces.fail_once")
    assert submit.kind is SpanKind.PRODUCER
    assert submit.parent is None
    assert [span.attributes and span.attributes["actorlib.job.attempt"] for span in attempts] == [
        1,
        2,
    ]
    first, second = attempts
    assert first.attributes is not None
    assert second.attributes is not None
    assert first.attributes["actorlib.outcome"] == "error"
    assert first.status.status_code is StatusCode.ERROR
    assert first.events[0].attributes is not None
    assert first.events[0].attributes["exception.type"] == "OSError"
    assert second.attributes["actorlib.outcome"] == "succeeded"
    assert all(parent_of(attempt, submit) for attempt in attempts)
    assert not named(spans, "actorlib.handle _Run")  # the queue's own actors are not traced


async def test_a_sqlite_file_of_schema_2_gains_the_trace_column_when_opened(
    tmp_path: Path,
) -> None:
    path = tmp_path / "old.db"
    store = SqliteStore(str(path))
    await store.open("a")
    await store.close()
    with contextlib.closing(sqlite3.connect(path)) as db:  # back to version 2
        db.executescript("ALTER TABLE jobs DROP COLUMN trace; PRAGMA user_version = 2;")
    store = SqliteStore(str(path))
    await store.open("b")
    await store.close()
    with contextlib.closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA user_version").fetchone() == (3,)
        columns = [row[1] for row in db.execute("PRAGMA table_info(jobs)")]
    assert columns[-1] == "trace"


def fail_once(marker: str) -> str:
    """A job that fails its first attempt (the marker file says it ran)."""
    path = Path(marker)
    if not path.exists():
        path.write_text("ran")
        raise OSError("first time unlucky")
    return "second time lucky"


async def test_an_ask_refused_by_a_full_mailbox_ends_its_span_with_the_error(
    tracing: OpenTelemetryTracing, exporter: InMemorySpanExporter
) -> None:
    gate, entered = anyio.Event(), anyio.Event()
    async with ActorSystem("traced") as system:
        tracing.watch(system)
        mailbox = Mailbox(capacity=1)
        sleeper = await system.spawn(Sleeper, gate, entered, name="sleeper", mailbox=mailbox)
        sleeper.tell("first")
        await entered.wait()  # taken by the handler, which waits
        sleeper.tell("second")  # fills the mailbox
        with pytest.raises(MailboxFull):
            await sleeper.ask("third")
        gate.set()
    [ask] = named(exporter.get_finished_spans(), "actorlib.ask str")
    assert ask.attributes is not None
    assert ask.attributes["actorlib.outcome"] == "error"
    assert ask.events[0].attributes is not None
    assert ask.events[0].attributes["exception.type"] == "actorlib._errors.MailboxFull"
