"""Remote link metrics: frames, bytes and links per peer node, across reconnects."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from actorlib import Actor, ActorSystem
from actorlib.observability import prometheus_text
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
