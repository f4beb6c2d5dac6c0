"""Heartbeats are agreed per link in the handshake: a quiet, healthy link is never lost,
whatever mix of transports and settings its two ends have (issue 17)."""

from __future__ import annotations

import anyio
import pytest

from actorlib import ActorSystem
from actorlib.remote import NatsTransport, NodeTransport, SocketTransport
from actorlib.remote._auth import agreed_heartbeat
from tests.helpers import Idle, Probe, Watcher
from tests.nats_server import NatsServer

from .conftest import SECRET, LogProbe

pytestmark = pytest.mark.anyio

QUIET = 0.05  # the shortest interval in these tests; each stays idle for 12 of them


async def stay_quiet_and_check(
    a: NodeTransport, b: NodeTransport, remote_log: LogProbe, *, expected: float | None
) -> None:
    probe = Probe()
    async with ActorSystem("b", transport=b) as system_b, ActorSystem("a", transport=a) as system_a:
        await system_b.spawn(Idle, name="idle")
        peer = await a.connect(b.address or "")
        idle = await peer.lookup("idle")
        assert idle is not None
        watcher = await system_a.spawn(Watcher, probe)
        assert await watcher.ask(idle) == "watching"
        assert a.node.links[b.node_id].heartbeat == expected
        assert b.node.links[a.node_id].heartbeat == expected
        await anyio.sleep(12 * QUIET)  # idle: the point of the test is the passing time
        assert await idle.ask("still linked") == "still linked"
        assert probe.events("terminated") == []
        assert not [line for line in remote_log.lines if "no heartbeat" in line]


def test_the_shorter_heartbeat_wins_and_none_means_none() -> None:
    assert agreed_heartbeat(None, None) is None
    assert agreed_heartbeat(None, 5.0) == 5.0
    assert agreed_heartbeat(0.2, None) == 0.2
    assert agreed_heartbeat(5.0, 0.2) == 0.2


async def test_a_unix_node_and_a_tcp_node_with_heartbeats_stay_linked(
    remote_log: LogProbe,
) -> None:
    tcp = SocketTransport("tcp://127.0.0.1:0", secret=SECRET, heartbeat=QUIET)
    unix = SocketTransport(secret=SECRET)  # no heartbeats of its own
    assert unix.heartbeat is None
    await stay_quiet_and_check(unix, tcp, remote_log, expected=QUIET)


async def test_a_tcp_node_dialing_a_unix_node_stays_linked(remote_log: LogProbe) -> None:
    tcp = SocketTransport("tcp://127.0.0.1:0", secret=SECRET, heartbeat=QUIET)
    unix = SocketTransport(secret=SECRET)
    await stay_quiet_and_check(tcp, unix, remote_log, expected=QUIET)


async def test_tcp_nodes_with_different_heartbeats_stay_linked(remote_log: LogProbe) -> None:
    fast = SocketTransport("tcp://127.0.0.1:0", secret=SECRET, heartbeat=QUIET)
    slow = SocketTransport("tcp://127.0.0.1:0", secret=SECRET, heartbeat=30.0)
    await stay_quiet_and_check(slow, fast, remote_log, expected=QUIET)


async def test_unix_nodes_without_heartbeats_send_none(remote_log: LogProbe) -> None:
    await stay_quiet_and_check(
        SocketTransport(secret=SECRET), SocketTransport(secret=SECRET), remote_log, expected=None
    )


@pytest.mark.parametrize("anyio_backend", ["asyncio"])  # nats-py runs on asyncio only
async def test_nats_nodes_with_different_heartbeats_stay_linked(
    nats_server: NatsServer, remote_log: LogProbe
) -> None:
    fast = NatsTransport(nats_server.url, secret=SECRET, heartbeat=QUIET)
    slow = NatsTransport(nats_server.url, secret=SECRET, heartbeat=30.0)
    await stay_quiet_and_check(slow, fast, remote_log, expected=QUIET)


async def test_a_silent_peer_is_still_dropped_when_heartbeats_were_agreed(
    remote_log: LogProbe,
) -> None:
    from actorlib.remote._auth import handshake
    from actorlib.remote._framing import StreamFrames
    from actorlib.remote._socket import parse_address

    server = SocketTransport(secret=SECRET)  # wants no heartbeats itself
    async with ActorSystem("server", transport=server):
        _, path, _ = parse_address(server.address)
        raw = StreamFrames(await anyio.connect_unix(path), "raw")
        # The peer asks for heartbeats every 50 ms, then sends nothing at all.
        await handshake(raw, SECRET, "raw-client", None, initiator=True, heartbeat=QUIET)
        await remote_log.wait_for("no heartbeat from raw-client")
        await raw.aclose()
