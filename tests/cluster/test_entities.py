"""Sharded entities with members in this process, against a real nats-server with JetStream."""

from __future__ import annotations

import secrets
import struct
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import anyio
import pytest

from actorlib import Actor, ActorSystem
from actorlib.cluster import (
    Cluster,
    ClusterError,
    Entity,
    EntityStarted,
    EntityStopped,
    LeaseLost,
    LeaseTiming,
)
from actorlib.cluster._lease import Holder, Lease, lease_key
from actorlib.cluster._region_messages import _Fenced
from actorlib.remote import NatsTransport
from tests.cluster.conftest import SECRET
from tests.helpers import Probe
from tests.nats_server import NatsServer

pytestmark = pytest.mark.anyio

FAST = LeaseTiming(ttl=2, renew_every=0.25, stop_margin=0.25, pause_margin=0.5)


class Counter(Entity):
    """Counts "incr"s and persists the count; "get" answers (key, count, activation, system)."""

    def __init__(self) -> None:
        self.activation = secrets.token_hex(4)
        self.count = 0

    async def on_start(self) -> None:
        self.count = int(self.entity.state or 0)  # type: ignore[call-overload]

    async def receive(self, message: object) -> object:
        if message == "incr":
            self.count += 1
            await self.entity.persist(self.count)
            return self.count
        if message == "token":
            return self.entity.token
        assert message == "get"
        return (self.entity.key, self.count, self.activation, self.context.system.name)


@asynccontextmanager
async def members(
    url: str, count: int, *, idle_timeout: float | None = None
) -> AsyncIterator[list[Cluster]]:
    """*count* members of a fresh cluster in this process, each hosting Counter."""
    name = "c" + secrets.token_hex(4)
    async with AsyncExitStack() as stack:
        clusters = []
        for index in range(count):
            system = await stack.enter_async_context(
                ActorSystem(f"m{index}", transport=NatsTransport(url, secret=SECRET))
            )
            cluster = await stack.enter_async_context(Cluster.join(system, name=name))
            await cluster.register(Counter, idle_timeout=idle_timeout, lease=FAST)
            clusters.append(cluster)
        await all_known(clusters)
        yield clusters


async def all_known(clusters: list[Cluster]) -> None:
    """Return once every member knows every other one as a host of Counter."""
    changed = [anyio.Event()]

    def wake(event: object) -> None:
        changed[0].set()

    for cluster in clusters:
        cluster.membership.listeners.append(wake)
    for cluster in clusters:  # announce the kinds again: every member sees an update
        await cluster.membership.beat()
    with anyio.fail_after(10):
        while any(sum("Counter" in m.kinds for m in c.members()) < len(clusters) for c in clusters):
            changed[0] = anyio.Event()
            await changed[0].wait()


async def test_the_first_message_activates_the_entity_and_it_knows_its_key(
    js_server: NatsServer,
) -> None:
    async with members(js_server.url, 2) as (a, b):
        cart = a.entity(Counter, "user-42")
        cart.tell("incr")
        assert await cart.ask("incr") == 2
        key, count, activation, _ = await b.entity(Counter, "user-42").ask("get")
        assert (key, count) == ("user-42", 2)
        # Later messages, from either member, reach the same activation.
        for cluster in (a, b, a):
            assert (await cluster.entity(Counter, "user-42").ask("get"))[2] == activation


async def test_keys_spread_over_the_members(js_server: NatsServer) -> None:
    async with members(js_server.url, 3) as clusters:
        hosts = set()
        for index in range(30):
            _, _, _, system = await clusters[0].entity(Counter, f"k{index}").ask("get")
            hosts.add(system)
        assert hosts == {"m0", "m1", "m2"}


async def test_concurrent_first_messages_from_three_members_give_one_activation(
    js_server: NatsServer,
) -> None:
    async with members(js_server.url, 3) as clusters:
        for index in range(10):
            key = f"race-{index}"
            seen: list[str] = []

            async def ask(cluster: Cluster, key: str = key, seen: list[str] = seen) -> None:
                seen.append((await cluster.entity(Counter, key).ask("get", timeout=10))[2])

            async with anyio.create_task_group() as group:
                for cluster in clusters:
                    for _ in range(3):
                        group.start_soon(ask, cluster)
            assert len(seen) == 9
            assert len(set(seen)) == 1, f"{key} had activations {set(seen)}"


async def test_an_idle_entity_is_passivated_and_gets_its_state_back_when_activated_again(
    js_server: NatsServer,
) -> None:
    async with members(js_server.url, 2, idle_timeout=0.3) as clusters:
        probe = Probe()
        for cluster in clusters:
            reporter = await cluster.system.spawn(Reporter, probe)
            cluster.system.events.subscribe(reporter, EntityStarted)
            cluster.system.events.subscribe(reporter, EntityStopped)
        cart = clusters[0].entity(Counter, "idle")
        assert await cart.ask("incr") == 1
        assert await cart.ask("incr") == 2
        first = (await cart.ask("get"))[2]
        await probe.wait_for(lambda items: any(isinstance(i, EntityStopped) for i in items))
        stopped = [i for i in probe.items if isinstance(i, EntityStopped)]
        assert [(e.kind, e.key, e.reason) for e in stopped] == [("Counter", "idle", "idle")]
        key, count, second, _ = await cart.ask("get")
        assert (key, count) == ("idle", 2)
        assert second != first
        started = [i for i in probe.items if isinstance(i, EntityStarted)]
        assert len(started) == 2
        assert started[1].token > started[0].token


class Reporter(Actor):
    """Puts every event it gets in a probe."""

    def __init__(self, probe: Probe) -> None:
        self.probe = probe

    async def receive(self, message: object) -> None:
        self.probe.put(message)


async def test_a_stale_activation_cannot_persist_over_a_newer_one(js_server: NatsServer) -> None:
    async with members(js_server.url, 1) as (a,):
        cart = a.entity(Counter, "fenced")
        assert await cart.ask("incr") == 1
        old_token = await cart.ask("token")
        # Another holder takes the key over behind this activation's back
        # (as if its lease had expired during a pause of this process).
        region = a._regions["Counter"]
        key = lease_key("Counter", "fenced")
        found = await a.bucket.read(key, limit=4096)
        assert found is not None
        thief = Lease(
            a.bucket,
            key,
            FAST,
            Holder("thief", ("thief", None, "/user/x", 1)),
            timers=a.system.timer_queue,
        )
        await a.bucket.delete(key)
        after_delete = await a.bucket.read(key, limit=4096)
        assert after_delete is not None
        assert await thief.acquire(after_delete.revision)
        assert thief.revision > old_token
        # The old activation still believes it holds the key: its write is refused.
        with pytest.raises(LeaseLost, match="a newer lease holds the key"):
            await cart.ask("incr")
        state = await a.bucket.read("s.Counter." + b"fenced".hex(), limit=4096)
        assert state is not None
        assert state.plaintext is not None
        # Still the old activation's one write: the count 1, under its older token.
        assert struct.unpack(">Q", state.plaintext[:8])[0] <= old_token
        assert a.transport.serializer.loads(state.plaintext[8:], a.transport.node) == 1
        assert region is a._regions["Counter"]


class Lapsing(Entity):
    """On "lapse" its lease ends, as if this process stalled past the deadline.

    ("add", n) records n; "seen" answers what this activation recorded;
    "wait" waits (setting `Lapsing.waiting`) until its lease ends.
    """

    waiting: anyio.Event

    def __init__(self) -> None:
        self.seen: list[object] = []

    async def receive(self, message: object) -> object:
        match message:
            case "lapse":
                lease = self.entity._lease
                lease.deadline = lease.timers.clock.now()  # no longer valid, nothing cancelled
            case ("add", n):
                self.seen.append(n)
            case "seen":
                return self.seen
            case "wait":  # until its lease ends
                Lapsing.waiting.set()
                await anyio.sleep_forever()
        return self.entity.token


@asynccontextmanager
async def lapsing_member(url: str) -> AsyncIterator[Cluster]:
    """The one member of a fresh cluster, hosting Lapsing."""
    transport = NatsTransport(url, secret=SECRET)
    async with (
        ActorSystem("m0", transport=transport) as system,
        Cluster.join(system, name="c" + secrets.token_hex(4)) as cluster,
    ):
        await cluster.register(Lapsing, lease=FAST)
        yield cluster


async def test_messages_an_activation_gets_after_its_lease_ended_are_answered_by_the_next(
    js_server: NatsServer,
) -> None:
    async with lapsing_member(js_server.url) as cluster:
        entity = cluster.entity(Lapsing, "k")
        first = await entity.ask("token")
        answers: dict[int, int] = {}

        async def ask(index: int, message: str) -> None:
            answers[index] = await entity.ask(message, timeout=10)

        # All in the activation's mailbox before it handles the first: the
        # later ones meet a lease that ended while they waited.
        async with anyio.create_task_group() as group:
            group.start_soon(ask, 0, "lapse")
            for index in range(1, 4):
                group.start_soon(ask, index, "token")
        assert answers[0] == first  # handled by the activation whose lease then ended
        later = {answers[index] for index in range(1, 4)}
        assert len(later) == 1  # one next activation answered them all
        assert later.pop() > first  # ... under a newer lease


@pytest.mark.parametrize("region_first", [False, True], ids=["activation-first", "region-first"])
async def test_messages_given_back_by_an_ended_activation_keep_their_order_with_later_ones(
    js_server: NatsServer, region_first: bool
) -> None:
    async with lapsing_member(js_server.url) as cluster:
        entity = cluster.entity(Lapsing, "k")
        await entity.ask("token")
        region: Any = cluster._regions["Lapsing"]._target.instance  # type: ignore[attr-defined]
        activation = region.active["k"]
        # As if this process had stalled: the lease ended while the activation
        # had five messages from the region in its mailbox, and five more came
        # to the region meanwhile (which will hold them, as the activation stops).
        # Whichever runs first: the activation gives its five back before the
        # region stops it, or after (then they reach the region behind its end).
        lease = activation.context._lease
        lease.deadline = lease.timers.clock.now()
        if region_first:
            for n in range(5, 10):
                entity.tell(("add", n))
        for n in range(5):
            activation.ref.tell(("add", n))
        if not region_first:
            for n in range(5, 10):
                entity.tell(("add", n))
        assert await entity.ask("seen", timeout=10) == list(range(10))


async def test_messages_queued_behind_a_handler_cut_off_by_its_lease_go_to_the_next_activation(
    js_server: NatsServer,
) -> None:
    async with lapsing_member(js_server.url) as cluster:
        entity = cluster.entity(Lapsing, "k")
        Lapsing.waiting = anyio.Event()
        cut_off: list[BaseException] = []

        async def wait() -> None:
            with pytest.raises(LeaseLost, match="its deadline passed") as caught:
                await entity.ask("wait", timeout=10)
            cut_off.append(caught.value)

        async with anyio.create_task_group() as group:
            group.start_soon(wait)
            await Lapsing.waiting.wait()
            for n in range(5):  # queued behind the handler that waits
                entity.tell(("add", n))
            # As the renewer does when a renewal finds another revision there.
            cluster._regions["Lapsing"].tell(_Fenced("k"))
        assert cut_off  # the message it was handling failed: it may have half run
        assert await entity.ask("seen", timeout=10) == list(range(5))


async def test_a_forged_lease_is_ignored_and_the_key_is_activated(js_server: NatsServer) -> None:
    import nats

    async with members(js_server.url, 1) as (a,):
        stranger = await nats.connect(js_server.url)
        try:
            assert a._jetstream is not None
            subject = a._jetstream.subject(lease_key("Counter", "forged"))
            await stranger.jetstream().publish(subject, b"\x01" + b"\x00" * 80)
        finally:
            await stranger.close()
        assert (await a.entity(Counter, "forged").ask("get"))[:2] == ("forged", 0)


async def test_registering_and_reaching_entities_check_their_arguments(
    js_server: NatsServer,
) -> None:
    async with members(js_server.url, 1) as (a,):
        with pytest.raises(TypeError, match="expects an Entity subclass"):
            await a.register(Actor)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="registered already"):
            await a.register(Counter)
        with pytest.raises(ValueError, match="is not registered on this member"):
            a.entity("Cart", "k")
        with pytest.raises(ValueError, match="non-empty str of at most 256 bytes"):
            a.entity(Counter, "")
        with pytest.raises(ValueError, match="renew_every"):
            LeaseTiming(ttl=1, renew_every=0.5)
        spawned = await a.system.spawn(Plain)
        with pytest.raises(ClusterError, match="not an entity activation"):
            await spawned.ask("hello")


class Plain(Entity):
    """An entity that is (wrongly) spawned as a plain actor."""

    async def receive(self, message: object) -> object:
        return message
