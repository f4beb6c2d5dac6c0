"""Rebalancing across member processes: a third member joins two that hold 30 carts.

The members are processes of their own (tests/cluster/member.py, hosting
`Cart`s with 2 s leases, handing off at most 10 keys a second); this process
routes only. Each message a cart handles is a row (key, activation, time)
in a side SQLite database, for the overlap check.
"""

from __future__ import annotations

import time
from pathlib import Path

import anyio
import pytest

from actorlib import ActorSystem
from actorlib.cluster import Cluster
from actorlib.cluster._placement import preferred
from actorlib.remote import NatsTransport
from tests.cluster.conftest import SECRET, member_process
from tests.cluster.member import TIMING, Cart
from tests.cluster.test_entity_faults import activations, assert_never_overlapped, hosts_known
from tests.nats_server import NatsServer

pytestmark = pytest.mark.anyio

KEYS = [f"user-{index}" for index in range(30)]
ROUNDS = 3


async def test_a_member_that_joins_takes_over_its_keys_with_their_state_and_nothing_lost(
    js_server: NatsServer, tmp_path: Path
) -> None:
    name = "carts-join"
    log = tmp_path / "handled.db"
    carts = "--carts", "--role", "carts"
    env = {"CLUSTER_LOG": str(log)}
    transport = NatsTransport(js_server.url, secret=SECRET)
    async with (
        ActorSystem("client", transport=transport) as system,
        Cluster.join(system, name=name) as cluster,
        member_process(js_server.url, name, *carts, "--system", "m1", env=env) as m1,
        member_process(js_server.url, name, *carts, "--system", "m2", env=env) as m2,
    ):
        await cluster.register(Cart, role="carts", idle_timeout=None, lease=TIMING)
        await hosts_known(cluster, 2)
        before = {}
        for key in KEYS:
            cart = cluster.entity(Cart, key)
            assert await cart.ask(("add", "before")) == 1
            before[key] = (await cart.ask("get"))[2]
        assert set(before.values()) == {"m1", "m2"}

        async with member_process(js_server.url, name, *carts, "--system", "m3", env=env) as m3:
            await hosts_known(cluster, 3)
            hosts = {m.node_id for m in cluster.members() if "Cart" in m.kinds}
            moving = {key for key in KEYS if preferred("Cart", key, hosts) == m3.node_id}
            assert moving, "no key prefers the new member"

            async def add(key: str) -> None:
                # Sent while the keys move: each is handled once, in order, none lost.
                cart = cluster.entity(Cart, key)
                for round_ in range(ROUNDS):
                    assert await cart.ask(("add", f"during-{round_}"), timeout=10) == round_ + 2

            async with anyio.create_task_group() as group:
                for key in KEYS:
                    group.start_soon(add, key)

            # The moves are events: stopped where the key was (once its messages were
            # handled), then started on the new member by the key's next message.
            holders = {"m1": m1, "m2": m2}
            for key in sorted(moving):
                stopped = await holders[before[key]].expect(f"stopped {key} ")
                assert stopped.endswith(" rebalanced"), stopped
            items = ["before"] + [f"during-{round_}" for round_ in range(ROUNDS)]
            for key in KEYS:
                found, held, host = await cluster.entity(Cart, key).ask("get")
                assert (found, held) == (key, items)  # the persisted state came along
                assert host == ("m3" if key in moving else before[key])
            # The test's own traffic ends here; members leave after it.
            traffic_ended = time.time()
            for key in sorted(moving):
                await m3.expect(f"started {key} ")
            for member in (m1, m2):
                moved = {line.split()[1] for line in member.history if line.startswith("stopped ")}
                assert moved <= moving, f"keys that did not prefer m3 moved: {moved - moving}"

    spans = activations(log)
    assert_never_overlapped(spans)
    for key in KEYS:
        # A moving key had two activations (where it was, then m3), the others one.
        # A message the newcomer passed back by a lease it read just before the
        # release once activated a key where it was again, about one run in ten:
        # three activations, the key moving twice. Counted up to the end of the
        # test's traffic: once, under heavy load, a key that did not move handled
        # single messages in two more activations while the members left (never
        # overlapping; not diagnosed, see docs/cluster.md "Not done yet").
        during = {a: span for a, span in spans[key].items() if span[0] <= traffic_ended}
        expected = 2 if key in moving else 1
        assert len(during) == expected, f"{key}: {len(during)} activations: {spans[key]}"
