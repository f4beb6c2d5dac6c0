"""The NATS transport against a real nats-server that the tests start and stop.

NATS runs on asyncio only (nats-py): these tests run on asyncio, and one
checks that trio is refused with a clear error.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from actorlib import Actor, ActorSystem, DeadLetter, Terminated
from actorlib.remote import NatsTransport, NodeLost, RemoteError
from tests.helpers import Collector, Probe
from tests.nats_server import NatsServer
from tests.remote.conftest import SECRET

# Lookups expected to succeed may wait long on a loaded machine; they return at the answer.
FOUND = 10.0

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[NatsServer]:
    """A nats-server of this test's own, which the test may restart."""
    server = NatsServer(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


class Watcher(Actor):
    def __init__(self, probe: Probe) -> None:
        self.probe = probe

    async def receive(self, message: object) -> None:
        if isinstance(message, Terminated):
            self.probe.put(("terminated", type(message.error).__name__))
        else:
            assert not isinstance(message, str)
            self.context.watch(message)  # type: ignore[arg-type]
            self.probe.put("watching")


@pytest.mark.parametrize("anyio_backend", ["trio"])
async def test_on_trio_the_nats_transport_refuses_to_start_with_a_clear_error(
    nats_server: NatsServer,
) -> None:
    with pytest.raises(RuntimeError, match="NatsTransport needs the asyncio backend"):
        async with ActorSystem("t", transport=NatsTransport(nats_server.url, secret=SECRET)):
            pass


async def test_named_actors_are_found_from_any_node(nats_server: NatsServer) -> None:
    transports = [
        NatsTransport(nats_server.url, secret=SECRET, lookup_timeout=FOUND) for _ in range(3)
    ]
    async with (
        ActorSystem("a", transport=transports[0]),
        ActorSystem("b", transport=transports[1]),
        ActorSystem("c", transport=transports[2]) as c,
    ):
        await c.spawn(Collector, name="registry-test")
        ref = await transports[0].lookup("registry-test")
        assert ref is not None
        ref.tell("hello")
        assert await ref.ask("get") == ["hello"]
        assert ref.path.endswith("/user/registry-test")
        assert await transports[1].lookup("nobody-has-this", timeout=0.2) is None


async def test_a_silent_node_is_detected_by_heartbeats_and_terminated_to_watchers(
    nats_server: NatsServer,
) -> None:
    transport_a = NatsTransport(
        nats_server.url, secret=SECRET, heartbeat=0.05, lookup_timeout=FOUND
    )
    transport_b = NatsTransport(
        nats_server.url, secret=SECRET, heartbeat=0.05, lookup_timeout=FOUND
    )
    probe = Probe()
    async with (
        ActorSystem("a", transport=transport_a) as a,
        ActorSystem("b", transport=transport_b) as b,
    ):
        await b.spawn(Collector, name="silent")
        ref = await transport_a.lookup("silent")
        assert ref is not None
        watcher = await a.spawn(Watcher, probe)
        watcher.tell(ref)
        await probe.wait_for(lambda items: "watching" in items)
        assert await ref.ask("get") == []
        client: Any = transport_b._client
        await client.close()  # B goes silent: no end of stream, no more heartbeats
        await probe.wait_for(lambda items: ("terminated", "NodeLost") in items)
        with pytest.raises(NodeLost):
            await ref.ask("get")


async def test_a_server_restart_loses_nothing_silently_and_the_system_reconnects(
    own_server: NatsServer,
) -> None:
    transport_a = NatsTransport(own_server.url, secret=SECRET, heartbeat=0.05, lookup_timeout=FOUND)
    transport_b = NatsTransport(own_server.url, secret=SECRET, heartbeat=0.05, lookup_timeout=FOUND)
    async with (
        ActorSystem("a", transport=transport_a) as a,
        ActorSystem("b", transport=transport_b) as b,
    ):
        await b.spawn(Collector, name="sink")
        local = b.lookup("sink")
        assert local is not None
        cell: Any = local._target
        letters = await a.spawn(Collector)
        a.events.subscribe(letters, DeadLetter)
        sink = await transport_a.lookup("sink")
        assert sink is not None
        sent: list[object] = []
        for i in range(5000):
            sent.append(("before", i))
            sink.tell(("before", i))
        with anyio.fail_after(10):
            while len(cell.instance.seen) < 1000:
                await anyio.lowlevel.checkpoint()
        own_server.stop()
        for i in range(500):  # during the outage
            sent.append(("during", i))
            sink.tell(("during", i))
        own_server.start()
        with anyio.fail_after(20):
            while True:  # the system reconnects: a new link, a fresh answer
                try:
                    await sink.ask("get", timeout=1)
                    break
                except (NodeLost, TimeoutError):
                    await anyio.lowlevel.checkpoint()
        sink.tell(("after", 0))
        sent.append(("after", 0))
        with anyio.fail_after(10):
            while ("after", 0) not in cell.instance.seen:
                await anyio.lowlevel.checkpoint()
        # Tells the lost link left in doubt are settled by asking B what it got.
        with anyio.fail_after(20):
            while transport_a.node.doubts.in_doubt():
                await anyio.lowlevel.checkpoint()
        dead = [d.message for d in await letters.ask("get") if isinstance(d, DeadLetter)]
        seen = list(cell.instance.seen)
        assert len(set(seen)) == len(seen)  # none arrived twice
        assert len(set(dead)) == len(dead)  # none is a dead letter twice
        assert set(seen) | set(dead) >= set(sent)  # each one arrived or is a dead letter...
        assert not set(seen) & set(dead)  # ...never both


def test_a_bad_url_or_prefix_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"url must be a NATS url like 'nats://127\.0\.0\.1:4222'"):
        NatsTransport("http://x")
    with pytest.raises(ValueError, match="prefix must be one NATS subject token"):
        NatsTransport(prefix="a.b")
    for bad in (0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="heartbeat must be a finite number of seconds > 0"):
            NatsTransport(heartbeat=bad)


class Squarer(Actor):
    def __init__(self, tag: str) -> None:
        self.tag = tag
        self.told = 0

    async def receive(self, message: object) -> object:
        if message == "told":
            return self.told
        if message == "tell":
            self.told += 1
            return None
        assert isinstance(message, int)
        return message * message, self.tag


async def test_a_pool_spread_across_nodes_as_a_nats_queue_group(
    nats_server: NatsServer, remote_log: Any
) -> None:
    transports = [
        NatsTransport(nats_server.url, secret=SECRET, lookup_timeout=FOUND) for _ in range(3)
    ]
    async with (
        ActorSystem("m1", transport=transports[0]) as m1,
        ActorSystem("m2", transport=transports[1]) as m2,
        ActorSystem("client", transport=transports[2]),
    ):
        members = [await m1.spawn(Squarer, "m1"), await m2.spawn(Squarer, "m2")]
        await transports[0].join_group("squares", members[0])
        await transports[1].join_group("squares", members[1])
        group = transports[2].group("squares")
        answers = [await group.ask(i) for i in range(24)]
        assert [value for value, _ in answers] == [i * i for i in range(24)]
        assert {tag for _, tag in answers} == {"m1", "m2"}  # both members took work
        for _ in range(10):
            group.tell("tell")
        with anyio.fail_after(10):
            while sum([await member.ask("told") for member in members]) < 10:
                await anyio.lowlevel.checkpoint()
        # A message that is not signed with the secret is refused, before unpickling.
        client: Any = transports[2]._client
        await client.publish("actorlib.group.squares", b"\x00" * 32 + b"garbage")
        await remote_log.wait_for("refused a message on actorlib.group.squares")
        with pytest.raises(ValueError, match="a group name must be one NATS subject token"):
            transports[2].group("a.b")


async def test_an_ask_to_a_group_without_members_fails_clearly(nats_server: NatsServer) -> None:
    transport = NatsTransport(nats_server.url, secret=SECRET)
    async with ActorSystem("lonely", transport=transport):
        with pytest.raises(RemoteError, match="no member of group empty answered"):
            await transport.group("empty").ask(1)
