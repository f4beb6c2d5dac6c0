"""Metrics: the Prometheus text and OpenTelemetry instruments read the runtime's own counters."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import anyio
import attrs
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    HistogramDataPoint,
    InMemoryMetricReader,
    NumberDataPoint,
)
from prometheus_client.parser import text_string_to_metric_families

from actorlib import Actor, ActorSystem, AskTimeout, Directive, OneForOne
from actorlib.observability import (
    CONTENT_TYPE,
    OpenTelemetryMetrics,
    collect,
    prometheus_text,
    time_handlers,
)

pytestmark = pytest.mark.anyio

COUNTER = f"{__name__}.Counter"
FLAKY = f"{__name__}.Flaky"


class Counter(Actor):
    def __init__(self) -> None:
        self.count = 0

    async def receive(self, message: object) -> object:
        self.count += 1
        return self.count


class Flaky(Actor):
    async def receive(self, message: object) -> None:
        if message == "fail":
            raise RuntimeError("flaky")


async def _drive(system: ActorSystem) -> None:
    """Two Counters handle 10 and 5 messages; a Flaky restarts twice; one dead letter."""
    first = await system.spawn(Counter, name="first")
    second = await system.spawn(Counter, name="second")
    flaky = await system.spawn(
        Flaky, name="flaky", supervisor=OneForOne(decider=lambda _: Directive.RESTART)
    )
    for _ in range(9):
        first.tell("incr")
    assert await first.ask("incr") == 10
    for _ in range(4):
        second.tell("incr")
    assert await second.ask("incr") == 5
    flaky.tell("fail")
    flaky.tell("fail")
    await flaky.ask("sync")
    await system.stop(second)
    second.tell("to the dead")


def _prometheus(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _labels(**labels: str) -> frozenset[tuple[str, str]]:
    return frozenset(labels.items())


async def test_the_prometheus_text_counts_messages_restarts_mailboxes_and_dead_letters() -> None:
    async with ActorSystem("shop") as system:
        await _drive(system)
        samples = _prometheus(prometheus_text(system))
    counter = _labels(system="shop", actor_class=COUNTER)
    flaky = _labels(system="shop", actor_class=FLAKY)
    # The stopped Counter's 5 messages still count: a counter never goes down.
    assert samples["actorlib_messages_handled_total", counter] == 15
    assert samples["actorlib_actors", counter] == 1
    assert samples["actorlib_mailbox_depth", counter] == 0
    assert samples["actorlib_restarts_total", counter] == 0
    assert samples["actorlib_messages_handled_total", flaky] == 3
    assert samples["actorlib_restarts_total", flaky] == 2
    assert samples["actorlib_dead_letters_total", _labels(system="shop")] == 1
    assert samples["actorlib_dispatcher_workers", _labels(system="shop")] >= 1
    assert CONTENT_TYPE.startswith("text/plain; version=0.0.4")


async def test_the_prometheus_text_has_the_handler_time_histogram_once_handlers_are_timed() -> None:
    async with ActorSystem("timed") as system:
        times = time_handlers(system)
        assert time_handlers(system) is times
        counter = await system.spawn(Counter)
        for _ in range(7):
            counter.tell("incr")
        await counter.ask("incr", timeout=None)
        samples = _prometheus(prometheus_text(system))
        [histogram] = times.snapshot()
    labels = _labels(system="timed", actor_class=COUNTER)
    # The first ask may be answered in the asker's task (counted, not timed).
    timed = samples["actorlib_handler_duration_seconds_count", labels]
    assert 7 <= timed <= 8
    assert timed == histogram.count
    assert samples["actorlib_handler_duration_seconds_bucket", labels | {("le", "+Inf")}] == timed
    assert samples["actorlib_handler_duration_seconds_sum", labels] > 0
    assert samples["actorlib_messages_handled_total", labels] == 8


async def test_prometheus_text_renders_several_systems_side_by_side() -> None:
    async with ActorSystem("one") as one, ActorSystem("two") as two:
        await (await one.spawn(Counter)).ask("x")
        text = prometheus_text(one, two)
    assert text.count("# TYPE actorlib_actors gauge") == 1
    samples = _prometheus(text)
    assert samples["actorlib_actors", _labels(system="one", actor_class=COUNTER)] == 1
    assert samples["actorlib_dead_letters_total", _labels(system="two")] == 0


def test_prometheus_text_refuses_what_is_neither_a_system_nor_a_queue() -> None:
    with pytest.raises(
        TypeError, match="prometheus_text\\(\\) expects ActorSystem or JobQueue objects"
    ):
        prometheus_text("shop")  # type: ignore[arg-type]


@attrs.frozen
class Sdk:
    provider: MeterProvider
    reader: InMemoryMetricReader

    def points(self) -> dict[str, dict[frozenset[tuple[str, str]], object]]:
        """What the reader collects now: points by metric name and labels."""
        data = self.reader.get_metrics_data()
        assert data is not None
        found: dict[str, dict[frozenset[tuple[str, str]], object]] = {}
        for resource in data.resource_metrics:
            for scope in resource.scope_metrics:
                assert scope.scope.name == "actorlib"
                for metric in scope.metrics:
                    for point in metric.data.data_points:
                        attributes = point.attributes or {}
                        labels = frozenset((k, str(v)) for k, v in attributes.items())
                        found.setdefault(metric.name, {})[labels] = point
        return found


@pytest.fixture
def sdk() -> Iterator[Sdk]:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    yield Sdk(provider, reader)
    provider.shutdown()


def _value(point: object) -> float:
    assert isinstance(point, NumberDataPoint), point
    return point.value


async def test_opentelemetry_instruments_report_the_same_counts_at_collection(sdk: Sdk) -> None:
    metrics = OpenTelemetryMetrics(sdk.provider)
    async with ActorSystem("otel") as system:
        metrics.watch(system, handler_time=True)
        await _drive(system)
        points = sdk.points()
    counter = _labels(system="otel", actor_class=COUNTER)
    flaky = _labels(system="otel", actor_class=FLAKY)
    assert _value(points["actorlib.messages.handled"][counter]) == 15
    assert _value(points["actorlib.restarts"][flaky]) == 2
    assert _value(points["actorlib.dead_letters"][_labels(system="otel")]) == 1
    assert _value(points["actorlib.actors"][counter]) == 1
    assert _value(points["actorlib.mailbox.depth"][counter]) == 0
    duration = points["actorlib.handler.duration"][counter]
    assert isinstance(duration, HistogramDataPoint)
    assert 1 <= duration.count <= 15  # asks answered in the asker's task are not timed
    assert duration.sum > 0


async def test_watching_without_handler_time_leaves_the_message_loop_unwrapped(sdk: Sdk) -> None:
    metrics = OpenTelemetryMetrics(sdk.provider)
    async with ActorSystem("plain") as system:
        metrics.watch(system)
        assert system.handler_observer is None
        await (await system.spawn(Counter)).ask("x")
        points = sdk.points()
    assert "actorlib.handler.duration" not in points
    assert (
        _value(points["actorlib.messages.handled"][_labels(system="plain", actor_class=COUNTER)])
        == 1
    )


async def test_collect_returns_the_samples_prometheus_text_renders() -> None:
    async with ActorSystem("samples") as system:
        await (await system.spawn(Counter)).ask("x")
        samples = collect(system)
    by_name = {(s.name, s.labels): s for s in samples}
    handled = by_name[
        "actorlib.messages.handled", (("system", "samples"), ("actor_class", COUNTER))
    ]
    assert (handled.kind, handled.unit, handled.value) == ("counter", "{message}", 1)


def test_without_opentelemetry_the_package_imports_and_the_otel_class_names_the_extra() -> None:
    program = """
import sys
sys.modules["opentelemetry"] = None  # as if opentelemetry-api were not installed
import actorlib
from actorlib.observability import OpenTelemetryMetrics, prometheus_text

async def main():
    async with actorlib.ActorSystem("bare") as system:
        print(prometheus_text(system).splitlines()[0])

actorlib.run(main)
try:
    OpenTelemetryMetrics()
except ImportError as error:
    print(error)
"""
    result = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.splitlines() == [
        "# HELP actorlib_messages_handled_total User messages handled (failed ones included), "
        "per actor class.",
        "actorlib.observability's OpenTelemetry metrics need opentelemetry-api; "
        'install the otel extra: pip install "actorlib[otel]"',
    ]


class Silent(Actor):
    """Never answers an ask in time: it forwards nowhere and stashes nothing, it just waits."""

    def __init__(self, release: anyio.Event) -> None:
        self.release = release

    async def receive(self, message: object) -> None:
        await self.release.wait()


async def test_asks_and_ask_timeouts_are_counted_per_recipient_class() -> None:
    release = anyio.Event()
    async with ActorSystem("asks") as system:
        counter = await system.spawn(Counter)
        silent = await system.spawn(Silent, release)
        await counter.ask("a")
        await counter.ask("b")
        with pytest.raises(AskTimeout):
            await silent.ask("late", timeout=0.01)
        release.set()
        [counter_stats, silent_stats] = system.class_statistics()
        samples = _prometheus(prometheus_text(system))
    assert (counter_stats.asks, counter_stats.ask_timeouts) == (2, 0)
    assert (silent_stats.asks, silent_stats.ask_timeouts) == (1, 1)
    silent_labels = _labels(system="asks", actor_class=f"{__name__}.Silent")
    assert samples["actorlib_asks_total", silent_labels] == 1
    assert samples["actorlib_ask_timeouts_total", silent_labels] == 1
