"""Hand-offs with members in this process: a key handed off is not activated where it was again."""

from __future__ import annotations

import itertools
import secrets

import anyio
import pytest

from actorlib import ActorSystem
from actorlib.cluster import Cluster, EntityStarted, EntityStopped
from actorlib.cluster._placement import preferred
from actorlib.cluster._region_messages import EntityMessage
from actorlib.remote import NatsTransport
from tests.cluster.conftest import SECRET
from tests.cluster.test_entities import FAST, Counter, Reporter
from tests.helpers import Probe
from tests.nats_server import NatsServer

pytestmark = pytest.mark.anyio


async def test_a_message_passed_back_to_the_member_that_handed_a_key_off_follows_the_key(
    js_server: NatsServer,
) -> None:
    name = "c" + secrets.token_hex(4)
    async with (
        ActorSystem("ma", transport=NatsTransport(js_server.url, secret=SECRET)) as system_a,
        ActorSystem("mb", transport=NatsTransport(js_server.url, secret=SECRET)) as system_b,
        Cluster.join(system_a, name=name) as a,
        Cluster.join(system_b, name=name) as b,
    ):
        probe = Probe()
        reporter = await system_a.spawn(Reporter, probe)
        system_a.events.subscribe(reporter, EntityStarted)
        system_a.events.subscribe(reporter, EntityStopped)
        await a.register(Counter, idle_timeout=None, lease=FAST)
        # A key that b will win once it hosts Counter: until then, a is the only host.
        both = {a.node_id, b.node_id}
        key = next(
            key
            for key in (f"user-{i}" for i in itertools.count())
            if preferred("Counter", key, both) == b.node_id
        )
        assert await a.entity(Counter, key).ask("incr") == 1
        assert (await a.entity(Counter, key).ask("get"))[3] == "ma"

        await b.register(Counter, idle_timeout=None, lease=FAST)
        await probe.wait_for(
            lambda items: any(isinstance(i, EntityStopped) and i.key == key for i in items)
        )
        stopped = [i for i in probe.items if isinstance(i, EntityStopped)]
        assert [(i.key, i.reason) for i in stopped] == [(key, "rebalanced")]

        # What b sends when it routed a message by the lease it read just before a
        # released it: the message's second hop, to a. Before the fix, a activated
        # the key again (a message passed twice stays where it is), and the key
        # then moved a second time.
        region = a._regions["Counter"]
        with anyio.fail_after(10):
            found, count, _, host = await region.ask(EntityMessage(key, "get", hops=2))
        assert (found, count, host) == (key, 1, "mb")
        started = [i for i in probe.items if isinstance(i, EntityStarted)]
        assert len(started) == 1, f"{key} was activated on a again: {started}"
