"""Remote link metrics: frames, bytes, links and round-trip times per peer node."""

from __future__ import annotations

import anyio
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import HistogramDataPoint, InMemoryMetricReader
from prometheus_client.parser import text_string_to_metric_families

from actorlib import Actor, ActorSystem
from actorlib.observability import OpenTelemetryMetrics, prometheus_text
from actorlib.remote import MemoryNetwork, MemoryTransport, NodeTransport

pytestmark = pytest.mark.anyio

SECRET = b"observability-test-secret-32byte"


class Echo(Actor):
    async def receive(self, message: object) -> object:
        return message


async def test_link_statistics_count_frames_bytes_and_links_per_peer() -> None:
    network = MemoryNetwork()
    transport_a: NodeTransport = MemoryTransport(network, secret=SECRET)
    transport_b: NodeTransport = MemoryTransport(network, secret=SECRET)
    assert transport_a.link_statistics() == []
    async with (
        ActorSystem("b", transport=transport_b) as system_b,
        ActorSystem("a", transport=transport_a) as system_a,
    ):
        await system_b.spawn(Echo, name="echo")
        peer = await transport_a.connect(transport_b.address or "")
        echo = await peer.lookup("echo")
        assert echo is not None
        for n in range(5):
            assert await echo.ask(n) == n
        [stats] = transport_a.link_statistics()
        text = prometheus_text(system_a)
    assert stats.peer == transport_b.node_id
    assert stats.connected
    assert (stats.links, stats.reconnects) == (1, 0)
    # A lookup and five asks each went out in a frame of their own, and came back.
    assert stats.frames_sent >= 6
    assert stats.frames_received >= 6
    assert stats.bytes_sent > stats.frames_sent
    assert stats.bytes_received > stats.frames_received
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    labels = (("peer", stats.peer), ("system", "a"))
    assert samples["actorlib_remote_frames_sent_total", labels] == stats.frames_sent
    assert samples["actorlib_remote_traffic_received_bytes_total", labels] == stats.bytes_received
    assert samples["actorlib_remote_reconnects_total", labels] == 0
    assert samples["actorlib_remote_connected", labels] == 1


async def test_round_trip_times_are_measured_per_peer_and_exported_as_histograms() -> None:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    network = MemoryNetwork()
    transport_a: NodeTransport = MemoryTransport(network, secret=SECRET)
    transport_b: NodeTransport = MemoryTransport(network, secret=SECRET)
    async with (
        ActorSystem("b", transport=transport_b) as system_b,
        ActorSystem("a", transport=transport_a) as system_a,
    ):
        OpenTelemetryMetrics(provider).watch(system_a)
        await system_b.spawn(Echo, name="echo")
        peer = await transport_a.connect(transport_b.address or "")
        echo = await peer.lookup("echo")
        assert echo is not None
        # The link's first frame carries a ping; its answer comes with a later frame.
        with anyio.fail_after(5):
            while transport_a.link_statistics()[0].rtt_count == 0:
                assert await echo.ask("ping me") == "ping me"
        [stats] = transport_a.link_statistics()
        [from_b] = transport_b.link_statistics()
        text = prometheus_text(system_a)
        data = reader.get_metrics_data()
    provider.shutdown()
    # One ping in flight at a time, one a second at most.
    count = stats.rtt_count
    assert count >= 1
    assert stats.rtt_last is not None
    assert 0 < stats.rtt_last <= stats.rtt_total < 5 * count
    assert len(stats.rtt_counts) == len(stats.rtt_bounds) + 1
    assert from_b.rtt_count <= 1  # b measures its own side
    # Prometheus: a histogram per peer, parsed by prometheus_client.
    labels = (("peer", stats.peer), ("system", "a"))
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    name = "actorlib_remote_round_trip_duration_seconds"
    assert samples[f"{name}_count", labels] == count
    assert samples[f"{name}_sum", labels] == pytest.approx(stats.rtt_total)
    assert samples[f"{name}_bucket", (("le", "+Inf"), *labels)] == count
    for index, bound in enumerate(stats.rtt_bounds):
        below = sum(stats.rtt_counts[: index + 1])
        assert samples[f"{name}_bucket", (("le", f"{bound:g}"), *labels)] == below
    # OpenTelemetry: the same round trip, recorded as it was measured.
    assert data is not None
    [point] = [
        point
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
        if metric.name == "actorlib.remote.round_trip.duration"
        for point in metric.data.data_points
    ]
    assert isinstance(point, HistogramDataPoint)
    assert dict(point.attributes or {}) == {"system": "a", "peer": stats.peer}
    assert point.count == count
    assert point.sum == pytest.approx(stats.rtt_total)
