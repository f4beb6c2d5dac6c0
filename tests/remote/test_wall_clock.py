"""Each node's wall clock is its transport's `wall`: a skewed one makes its sealed NATS
messages stale to the others beyond `freshness`, and fresh within it.

A simulation skews one node's clock here; the sealers of link requests,
lookups, group messages and claims all read it.
"""

from __future__ import annotations

import time

import pytest

from actorlib import ActorSystem
from actorlib.remote import MemoryNetwork, MemoryTransport, NatsTransport, SocketTransport
from actorlib.remote._nats_sealed import Refused
from tests.helpers import Idle
from tests.nats_server import NatsServer

from .conftest import SECRET, LogProbe

pytestmark = pytest.mark.anyio

FRESHNESS = 10.0
EPOCH = 1_700_000_000.0  # a fixed "now" for the unit tests


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # nats-py runs on asyncio only


def skewed(seconds: float, base: float = EPOCH) -> NatsTransport:
    """A transport whose wall clock reads *seconds* ahead of *base* (behind if negative)."""
    return NatsTransport(secret=SECRET, freshness=FRESHNESS, wall=lambda: base + seconds)


@pytest.mark.parametrize("skew", [0.0, 9.5, -9.5])
def test_a_message_sealed_on_a_clock_skewed_within_freshness_is_accepted(skew: float) -> None:
    sender, receiver = skewed(skew), skewed(0.0)
    _, data = sender._lookups.sealer.seal("lookup", "actorlib.lookup", b"/user/x", reply="_INBOX.r")
    opened = receiver._lookups.sealer.open(
        "lookup", "actorlib.lookup", data, limit=64, reply="_INBOX.r"
    )
    assert opened.body == b"/user/x"
    assert opened.timestamp == EPOCH + skew  # stamped by the sender's wall clock


@pytest.mark.parametrize("skew", [10.5, -10.5, 3600.0])
def test_a_message_sealed_on_a_clock_skewed_beyond_freshness_is_refused_as_stale(
    skew: float,
) -> None:
    sender, receiver = skewed(skew), skewed(0.0)
    _, data = sender._links.seal("link request", "actorlib.accept.b", b"{}", reply="_INBOX.r")
    with pytest.raises(Refused, match="stale") as refused:
        receiver._links.open("link request", "actorlib.accept.b", data, limit=64, reply="_INBOX.r")
    assert refused.value.rule == "stale"


def test_every_transport_reads_time_time_unless_given_a_wall_clock() -> None:
    assert NatsTransport().wall is time.time
    assert SocketTransport().wall is time.time
    assert MemoryTransport(MemoryNetwork()).wall is time.time
    wall = skewed(5.0).wall
    assert wall() == EPOCH + 5.0


def test_a_wall_clock_that_is_not_callable_is_a_clear_error() -> None:
    with pytest.raises(TypeError, match="wall must be a callable returning seconds since the"):
        NatsTransport(wall=time.time())  # type: ignore[arg-type]


async def test_a_node_whose_clock_is_off_by_more_than_freshness_is_refused_on_nats(
    nats_server: NatsServer, remote_log: LogProbe
) -> None:
    host = NatsTransport(nats_server.url, secret=SECRET, freshness=FRESHNESS)
    late = NatsTransport(
        nats_server.url, secret=SECRET, freshness=FRESHNESS, wall=lambda: time.time() - 30
    )
    near = NatsTransport(
        nats_server.url, secret=SECRET, freshness=FRESHNESS, wall=lambda: time.time() + 5
    )
    async with (
        ActorSystem("host", transport=host) as system,
        ActorSystem("late", transport=late),
        ActorSystem("near", transport=near),
    ):
        await system.spawn(Idle, name="idle")
        # Lookups, group messages and claims are sealed with the node's wall clock too.
        for transport in (late, near):
            assert transport._groups is not None
            assert transport._groups.sealer.wall is transport.wall
            assert transport._groups.claims.wall is transport.wall
        assert await late.lookup("idle", timeout=0.5) is None
        await remote_log.wait_for("stale: sealed 30")
        found = await near.lookup("idle", timeout=5.0)
        assert found is not None
        assert await found.ask("five seconds ahead") == "five seconds ahead"
