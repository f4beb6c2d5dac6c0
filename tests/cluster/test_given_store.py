"""A Cluster built on a given KeyValue store (internal: a simulated cluster uses it), NATS links.

The member's system still has a `NatsTransport` (a real nats-server), but
its membership, leases and persisted state live in a `MemoryKV` on the
system's clock, and never in JetStream. On a `VirtualClock`, a whole entity
activation (region, lease, renewer, guard) then runs on virtual time.
"""

from __future__ import annotations

import secrets

import anyio
import nats
import pytest
from nats.js.errors import BucketNotFoundError

from actorlib import ActorSystem
from actorlib.cluster import Entity, LeaseTiming
from actorlib.cluster._joining import Joining
from actorlib.cluster._lease import lease_key, state_key
from actorlib.cluster._memory import MemoryKV
from actorlib.remote import NatsTransport
from actorlib.testing import VirtualClock
from tests.cluster.conftest import SECRET
from tests.nats_server import NatsServer

pytestmark = pytest.mark.anyio

FAST = LeaseTiming(ttl=2, renew_every=0.25, stop_margin=0.25, pause_margin=0.5)


class Tally(Entity):
    """Counts "incr"s and persists the count; "token" answers the fencing token."""

    def __init__(self) -> None:
        self.count = 0

    async def receive(self, message: object) -> object:
        if message == "token":
            return self.entity.token
        self.count += 1
        await self.entity.persist(self.count)
        return self.count


async def test_a_cluster_on_a_given_store_keeps_members_leases_and_state_there_not_in_jetstream(
    js_server: NatsServer,
) -> None:
    name = "g" + secrets.token_hex(4)
    async with ActorSystem("m0", transport=NatsTransport(js_server.url, secret=SECRET)) as system:
        store = MemoryKV(system.clock)
        async with Joining(system, name, (), 3.0, store=store) as cluster:
            await cluster.register(Tally, lease=FAST)
            assert await cluster.entity(Tally, "k").ask("incr") == 1
            assert [m.node_id for m in cluster.members()] == [cluster.node_id]
            bucket = cluster.bucket.name
            for key in ("m." + cluster.node_id, lease_key("Tally", "k"), state_key("Tally", "k")):
                assert await store.read(key) is not None, key
    client = await nats.connect(js_server.url)
    try:
        with pytest.raises(BucketNotFoundError):
            await client.jetstream().key_value(bucket)
    finally:
        await client.close()


async def test_an_entity_on_a_virtual_clock_keeps_its_lease_for_many_virtual_seconds_at_once(
    js_server: NatsServer,
) -> None:
    clock = VirtualClock()
    transport = NatsTransport(js_server.url, secret=SECRET)
    async with ActorSystem("m0", clock=clock, transport=transport) as system:
        store = MemoryKV(clock)
        name = "v" + secrets.token_hex(4)
        async with Joining(system, name, (), 3.0, store=store) as cluster:
            await cluster.register(Tally, lease=FAST, idle_timeout=None)
            tally = cluster.entity(Tally, "k")
            assert await tally.ask("incr") == 1
            first = await tally.ask("token")
            real_start = anyio.current_time()
            await clock.advance(20)  # 80 renewals of a 2 s lease, ten member heartbeat TTLs
            real = anyio.current_time() - real_start
            # The same activation (its count kept), its lease renewed on virtual time.
            assert await tally.ask("incr") == 2
            assert await tally.ask("token") > first + 40
            assert real < 5 < clock.now()
            assert [m.node_id for m in cluster.members()] == [cluster.node_id]


async def test_a_member_says_when_it_joined_by_its_transports_wall_clock(
    js_server: NatsServer,
) -> None:
    transport = NatsTransport(js_server.url, secret=SECRET, wall=lambda: 1_234_567.5)
    async with ActorSystem("m0", transport=transport) as system:
        name = "w" + secrets.token_hex(4)
        async with Joining(system, name, (), 3.0, store=MemoryKV(system.clock)) as cluster:
            [member] = cluster.members()
            assert member.joined == 1_234_567.5
