"""Membership against a real nats-server with JetStream, with members in processes of their own."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest

from actorlib import Actor, ActorSystem
from actorlib.cluster import Cluster, ClusterError, MemberDown, MemberUp
from actorlib.remote import NatsTransport, SocketTransport
from tests.cluster.conftest import SECRET, member_process
from tests.nats_server import NatsServer

pytestmark = pytest.mark.anyio

# The lateness measured for JetStream's expiry (at most 0.3 s), plus a
# loaded machine's scheduling: a lost member must be down within this of the TTL.
MARGIN = 1.5


class Events(Actor):
    """Keeps member events in a list and wakes waiters."""

    def __init__(self, seen: list[object], changed: list[anyio.Event]) -> None:
        self.seen, self.changed = seen, changed

    async def receive(self, message: object) -> None:
        self.seen.append(message)
        self.changed[0].set()
        self.changed[0] = anyio.Event()


class Observer:
    """The member events of a system, and a way to wait for one."""

    def __init__(self) -> None:
        self.seen: list[object] = []
        self.changed = [anyio.Event()]

    async def attach(self, system: ActorSystem) -> None:
        ref = await system.spawn(Events, self.seen, self.changed)
        system.events.subscribe(ref, MemberUp)
        system.events.subscribe(ref, MemberDown)

    async def wait(self, predicate: Callable[[object], bool], *, within: float = 10) -> object:
        with anyio.fail_after(within):
            while True:
                for event in self.seen:
                    if predicate(event):
                        return event
                await self.changed[0].wait()


def up(node: str) -> Callable[[object], bool]:
    return lambda event: isinstance(event, MemberUp) and event.member.node_id == node


def down(node: str) -> Callable[[object], bool]:
    return lambda event: isinstance(event, MemberDown) and event.member.node_id == node


async def test_three_members_see_each_other_and_one_leaves_and_one_killed_is_lost_in_bound(
    js_server: NatsServer,
) -> None:
    observer = Observer()
    transport = NatsTransport(js_server.url, secret=SECRET)
    async with ActorSystem("observer", transport=transport) as system:
        await observer.attach(system)
        async with (
            Cluster.join(system, name="three", roles={"watch"}) as cluster,
            member_process(js_server.url, "three") as a,
            member_process(js_server.url, "three") as b,
            member_process(js_server.url, "three") as c,
        ):
            for member in (a, b, c):
                await observer.wait(up(member.node_id))
            nodes = {member.node_id for member in cluster.members()}
            assert nodes == {a.node_id, b.node_id, c.node_id, cluster.node_id}
            # Every member sees every other one.
            for member in (a, b, c):
                assert await member.expect(f"up {cluster.node_id}")
            assert [m.roles for m in cluster.members() if m.node_id == cluster.node_id] == [
                frozenset({"watch"})
            ]

            a.signal(signal.SIGTERM)  # a clean leave: seen at once
            left = await observer.wait(down(a.node_id), within=5)
            assert isinstance(left, MemberDown)
            assert left.reason == "left"
            assert (await b.expect(f"down {a.node_id}")).endswith("left")

            killed_at = time.monotonic()
            b.signal(signal.SIGKILL)
            lost = await observer.wait(down(b.node_id), within=3.0 + MARGIN)
            elapsed = time.monotonic() - killed_at
            assert isinstance(lost, MemberDown)
            assert lost.reason == "lost"
            assert elapsed <= 3.0 + MARGIN
            assert (await c.expect(f"down {b.node_id}")).endswith("lost")
            assert {m.node_id for m in cluster.members()} == {c.node_id, cluster.node_id}


async def test_a_frozen_member_is_declared_lost_and_comes_back_up_when_resumed(
    js_server: NatsServer,
) -> None:
    observer = Observer()
    transport = NatsTransport(js_server.url, secret=SECRET)
    async with ActorSystem("observer", transport=transport) as system:
        await observer.attach(system)
        async with (
            Cluster.join(system, name="frozen", down_after=2),
            member_process(js_server.url, "frozen", "--down-after", "2") as frozen,
        ):
            await observer.wait(up(frozen.node_id))
            frozen.signal(signal.SIGSTOP)
            lost = await observer.wait(down(frozen.node_id), within=2.0 + MARGIN)
            assert isinstance(lost, MemberDown)
            assert lost.reason == "lost"
            observer.seen.clear()
            frozen.signal(signal.SIGCONT)  # its next heartbeat announces it again
            await observer.wait(up(frozen.node_id))


async def test_joining_needs_a_nats_transport_and_valid_settings(js_server: NatsServer) -> None:
    async with ActorSystem("plain") as system:
        with pytest.raises(TypeError, match="needs a system whose transport is a NatsTransport"):
            await Cluster.join(system, name="x")
    async with ActorSystem("sock", transport=SocketTransport()) as system:
        with pytest.raises(TypeError, match="got SocketTransport"):
            await Cluster.join(system, name="x")
    transport = NatsTransport(js_server.url, secret=SECRET)
    async with ActorSystem("bad", transport=transport) as system:
        with pytest.raises(ValueError, match="name must be 1 to 64 letters"):
            await Cluster.join(system, name="a.b")
        with pytest.raises(ValueError, match="down_after must be whole seconds >= 1"):
            await Cluster.join(system, name="x", down_after=0.5)
        with pytest.raises(TypeError, match="got the string 'web'"):
            await Cluster.join(system, name="x", roles="web")


async def test_a_server_without_jetstream_is_a_clear_error(nats_server: NatsServer) -> None:
    transport = NatsTransport(nats_server.url, secret=SECRET)
    async with ActorSystem("nojs", transport=transport) as system:
        with pytest.raises(ClusterError, match="must run with JetStream"):
            await Cluster.join(system, name="x")


async def test_entries_written_by_a_stranger_are_ignored(js_server: NatsServer) -> None:
    import nats

    observer = Observer()
    transport = NatsTransport(js_server.url, secret=SECRET)
    async with ActorSystem("observer", transport=transport) as system:
        await observer.attach(system)
        async with Cluster.join(system, name="hostile") as cluster:
            await observer.wait(up(cluster.node_id))
            stranger = await nats.connect(js_server.url)
            try:
                js = stranger.jetstream()
                await js.publish("$KV.actorlib-cluster-hostile.m.evil", b"\x01" + b"x" * 60)
                await js.publish("$KV.actorlib-cluster-hostile.m.huge", b"\x01" * 100_000)
                # A real entry moved to another key does not open either.
                subject = f"$KV.actorlib-cluster-hostile.m.{cluster.node_id}"
                real = await js.get_last_msg("KV_actorlib-cluster-hostile", subject)
                await js.publish("$KV.actorlib-cluster-hostile.m.moved", real.data or b"")
                # A member that joins after them is seen: the forged entries came first.
                async with member_process(js_server.url, "hostile") as other:
                    await observer.wait(up(other.node_id))
                    names = {m.node_id for m in cluster.members()}
                    assert names == {cluster.node_id, other.node_id}
            finally:
                await stranger.close()
            ups = [e.member.node_id for e in observer.seen if isinstance(e, MemberUp)]
            assert not {"evil", "huge", "moved"} & set(ups)


@pytest.mark.parametrize("anyio_backend", ["trio"])
async def test_on_trio_joining_fails_with_the_transport_error(js_server: NatsServer) -> None:
    with pytest.raises(RuntimeError, match="NatsTransport needs the asyncio backend"):
        async with ActorSystem("t", transport=NatsTransport(js_server.url, secret=SECRET)):
            pass


async def test_after_the_server_restarts_members_still_see_each_other_leave(
    tmp_path: Path,
) -> None:
    server = NatsServer(tmp_path, jetstream=True)
    server.start()
    try:
        observer = Observer()
        async with (
            ActorSystem("a", transport=NatsTransport(server.url, secret=SECRET)) as a,
            ActorSystem("b", transport=NatsTransport(server.url, secret=SECRET)) as b,
        ):
            await observer.attach(a)
            async with Cluster.join(a, name="restart", down_after=2) as ca:
                cb = await Cluster.join(b, name="restart", down_after=2)
                await observer.wait(up(cb.node_id))
                server.stop()
                server.start()
                # Both reconnect by themselves; the watchers are made anew.
                observer.seen.clear()
                with anyio.fail_after(10):
                    # nats-py offers no event to wait on here: poll its reconnect counter.
                    while ca.membership._reconnects() == 0 or cb.membership._reconnects() == 0:  # noqa: ASYNC110
                        await anyio.sleep(0.05)
                await cb.leave()
                left = await observer.wait(down(cb.node_id), within=5)
                assert isinstance(left, MemberDown)
                assert left.reason == "left"
                assert [m.node_id for m in ca.members()] == [ca.node_id]
    finally:
        server.stop()
