"""Entities across member processes: a member killed, a member frozen (SIGSTOP) past its leases.

The members are processes of their own (tests/cluster/member.py, hosting
`Cart`s with 2 s leases); this process joins as a member without the
``carts`` role, so it only routes messages. Each message a cart handles is
a row (key, activation, time) in a side SQLite database.
"""

from __future__ import annotations

import contextlib
import itertools
import signal
import sqlite3
import time
from pathlib import Path
from typing import Any

import anyio
import pytest

from actorlib import ActorRef, ActorSystem, AskTimeout
from actorlib.cluster import Cluster, ClusterError
from actorlib.remote import NatsTransport, NodeLost
from tests.cluster.conftest import SECRET, member_process
from tests.cluster.member import TIMING, Cart
from tests.nats_server import NatsServer

pytestmark = pytest.mark.anyio


async def hosts_known(cluster: Cluster, count: int) -> None:
    """Return once *cluster* knows *count* members hosting Cart."""
    changed = [anyio.Event()]
    cluster.membership.listeners.append(lambda event: changed[0].set())
    with anyio.fail_after(15):
        while sum("Cart" in m.kinds for m in cluster.members()) < count:
            changed[0] = anyio.Event()
            await changed[0].wait()


async def ask_until(ref: ActorRef[Any], message: object, *, within: float = 20) -> Any:
    """Ask until an answer comes: while a lost member's leases expire, asks fail fast."""
    with anyio.fail_after(within):
        while True:
            try:
                return await ref.ask(message, timeout=2)
            except (NodeLost, AskTimeout, ClusterError):
                # Retry pacing, not synchronization: the lease expires on the server's clock.
                await anyio.sleep(0.05)


async def test_a_hundred_carts_answer_with_their_items_after_a_member_is_killed(
    js_server: NatsServer,
) -> None:
    name = "carts-kill"
    carts = "--carts", "--role", "carts"
    transport = NatsTransport(js_server.url, secret=SECRET)
    async with (
        ActorSystem("client", transport=transport) as system,
        Cluster.join(system, name=name) as cluster,
        member_process(js_server.url, name, *carts, "--system", "m1") as m1,
        member_process(js_server.url, name, *carts, "--system", "m2"),
        member_process(js_server.url, name, *carts, "--system", "m3"),
    ):
        await cluster.register(Cart, role="carts", idle_timeout=None, lease=TIMING)
        await hosts_known(cluster, 3)
        for index in range(100):
            assert await cluster.entity(Cart, f"user-{index}").ask(("add", f"item-{index}")) == 1
        where = {}
        for index in range(100):
            key, items, host = await cluster.entity(Cart, f"user-{index}").ask("get")
            assert (key, items) == (f"user-{index}", [f"item-{index}"])
            where[index] = host
        assert set(where.values()) == {"m1", "m2", "m3"}

        killed_at = time.monotonic()
        m1.signal(signal.SIGKILL)
        for index in range(100):
            key, items, host = await ask_until(cluster.entity(Cart, f"user-{index}"), "get")
            assert (key, items) == (f"user-{index}", [f"item-{index}"])
            assert host != "m1"
        recovered = time.monotonic() - killed_at
        print(f"the carts of a killed member answered again after {recovered:.2f} s")
        # The lease TTL (2 s) plus the server's lateness and the retries.
        assert recovered < 10, f"the carts of a killed member took {recovered:.1f} s to answer"


def activations(db: Path) -> dict[str, dict[str, tuple[float, float]]]:
    """For each key, each activation's first and last handled message (wall clock).

    Read from every member's file, *db*.<pid> (see `tests.cluster.member.log_message`).
    """
    spans: dict[str, dict[str, tuple[float, float]]] = {}
    files = [path for path in db.parent.glob(db.name + ".*") if path.suffix[1:].isdigit()]
    assert files, f"no member wrote {db}.<pid>"
    for path in files:
        # closing(): a sqlite3 connection's own `with` ends a transaction, not the connection.
        with contextlib.closing(sqlite3.connect(path)) as connection:
            rows = connection.execute("SELECT key, activation, at FROM handled")
            for key, activation, at in rows:
                first, last = spans.setdefault(key, {}).get(activation, (at, at))
                spans[key][activation] = (min(first, at), max(last, at))
    return spans


async def carts_on(cluster: Cluster, node: str, first: object, count: int = 20) -> list[Any]:
    """Carts user-0... (each given *first*) that landed on member *node*; at least one."""
    landed = []
    for index in range(count):
        cart = cluster.entity(Cart, f"user-{index}")
        await cart.ask(("add", first))
        if (await cart.ask("get"))[2] == node:
            landed.append(cart)
    assert landed, f"no cart landed on {node}"
    return landed


def assert_never_overlapped(spans: dict[str, dict[str, tuple[float, float]]]) -> None:
    """No two activations of one key handled messages at the same time."""
    for key, by_activation in spans.items():
        ordered = sorted(by_activation.values())
        for (_, end), (start, _) in itertools.pairwise(ordered):
            assert start > end, f"two activations of {key} overlapped: {by_activation}"


async def test_a_member_frozen_past_its_leases_never_overlaps_the_activations_that_replace_it(
    js_server: NatsServer, tmp_path: Path
) -> None:
    name = "carts-freeze"
    log = tmp_path / "handled.db"
    carts = "--carts", "--role", "carts"
    env = {"CLUSTER_LOG": str(log)}
    transport = NatsTransport(js_server.url, secret=SECRET)
    async with (
        ActorSystem("client", transport=transport) as system,
        Cluster.join(system, name=name) as cluster,
        member_process(js_server.url, name, *carts, "--system", "m1", env=env) as m1,
        member_process(js_server.url, name, *carts, "--system", "m2", env=env),
    ):
        await cluster.register(Cart, role="carts", idle_timeout=None, lease=TIMING)
        await hosts_known(cluster, 2)
        on_m1 = await carts_on(cluster, "m1", "before")

        frozen_at = time.time()
        m1.signal(signal.SIGSTOP)
        for cart in on_m1:  # these reach m1 and wait there, in its socket, while it is frozen
            cart.tell(("add", "while frozen"))
        for cart in on_m1:  # the others take the keys over once the leases expire
            _key, items, host = await ask_until(cart, "get")
            assert host == "m2"
            assert items[0] == "before"  # the state persisted on m1 came along
            await cart.ask(("add", "after"))

        m1.signal(signal.SIGCONT)
        # Back: it sees its own entry expired, then announces itself again.
        await m1.expect(f"down {m1.node_id} lost")
        for cart in on_m1:
            await ask_until(cart, "get")

    spans = activations(log)
    assert_never_overlapped(spans)
    for cart in on_m1:
        by_activation = spans[cart.name]
        assert len(by_activation) >= 2, f"{cart.name} was not taken over: {by_activation}"
        first = min(by_activation.values())
        assert first[1] < frozen_at, f"m1's activation of {cart.name} ran after it was frozen"


async def test_keys_of_a_killed_member_are_reached_again_when_its_leases_outlive_its_entry(
    js_server: NatsServer,
) -> None:
    # The members' entries expire after 1 s, their leases after 2 s: between the two,
    # a sender reads a lease held by a member already down. It must not remember that
    # route for good (it did), or the keys would never be reached again.
    name = "carts-outlive"
    carts = "--carts", "--role", "carts", "--down-after", "1"
    transport = NatsTransport(js_server.url, secret=SECRET)
    async with (
        ActorSystem("client", transport=transport) as system,
        Cluster.join(system, name=name) as cluster,
        member_process(js_server.url, name, *carts, "--system", "m1") as m1,
        member_process(js_server.url, name, *carts, "--system", "m2"),
    ):
        await cluster.register(Cart, role="carts", idle_timeout=None, lease=TIMING)
        await hosts_known(cluster, 2)
        on_m1 = await carts_on(cluster, "m1", "kept")
        down = anyio.Event()
        cluster.membership.listeners.append(
            lambda event: down.set() if m1.node_id not in cluster.membership.members else None
        )
        m1.signal(signal.SIGKILL)
        with anyio.fail_after(10):
            await down.wait()
        for cart in on_m1:  # the first asks read m1's lease, still live on the server
            key, items, host = await ask_until(cart, "get", within=10)
            assert (key, items, host) == (cart.name, ["kept"], "m2")
