"""A real network partition: a member in a network namespace of its own is cut off from NATS.

The NATS server listens on the host's end of a virtual ethernet pair; one
member runs inside a network namespace (``ip netns``) at the other end, so
taking its end of the link down cuts it off without killing or freezing
it: it keeps running, cannot renew its leases, and must stop its entities
before anyone else may activate them. Needs root and iproute2 (CI has
both); under CI=true the test fails without them instead of skipping.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import attrs
import pytest

from actorlib import ActorSystem
from actorlib.cluster import Cluster
from actorlib.remote import NatsTransport
from tests.cluster.conftest import SECRET, member_process
from tests.cluster.member import TIMING, Cart
from tests.cluster.test_entity_faults import (
    activations,
    ask_until,
    assert_never_overlapped,
    carts_on,
    hosts_known,
)
from tests.nats_server import NatsServer

pytestmark = pytest.mark.anyio


def ip(*args: str) -> None:
    """Run ``ip ARGS``; a failure raises with its output."""
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True, timeout=30)


@attrs.frozen
class Namespace:
    """A network namespace linked to the host by a veth pair (a /30 of its own)."""

    name: str
    host_ip: str
    inside: str  # the namespace's end of the link

    @property
    def wrap(self) -> list[str]:
        """The command prefix that runs a command inside the namespace."""
        return ["ip", "netns", "exec", self.name]

    def cut(self) -> None:
        """Take the namespace's end of the link down: nothing gets in or out."""
        ip("netns", "exec", self.name, "ip", "link", "set", self.inside, "down")


def require_netns() -> None:
    """Skip (fail under CI=true) where network namespaces cannot be made."""
    reason = None
    if shutil.which("ip") is None:
        reason = "iproute2's ip is not installed (apt-get install iproute2)"
    elif os.geteuid() != 0:
        reason = "creating network namespaces needs root"
    if reason is not None:
        if os.environ.get("CI", "").lower() in ("true", "1"):
            pytest.fail(f"the partition test is required under CI=true: {reason}")
        pytest.skip(reason)


@pytest.fixture
def netns() -> Iterator[Namespace]:
    """A fresh namespace and its link; both are deleted afterwards, whatever happened."""
    require_netns()
    tag = secrets.token_hex(3)
    name, outside, inside = f"actorlib-{tag}", f"alh{tag}", f"aln{tag}"
    subnet = f"10.231.{secrets.randbelow(256)}.{4 * secrets.randbelow(64)}"
    base = subnet.rsplit(".", 1)
    host_ip, inner_ip = f"{base[0]}.{int(base[1]) + 1}", f"{base[0]}.{int(base[1]) + 2}"
    try:
        ip("netns", "add", name)
        ip("link", "add", outside, "type", "veth", "peer", "name", inside)
        ip("link", "set", inside, "netns", name)
        ip("addr", "add", f"{host_ip}/30", "dev", outside)
        ip("link", "set", outside, "up")
        inner: list[list[str]] = [
            ["addr", "add", f"{inner_ip}/30", "dev", inside],
            ["link", "set", inside, "up"],
            ["link", "set", "lo", "up"],
        ]
        for command in inner:
            ip("netns", "exec", name, "ip", *command)
        yield Namespace(name, host_ip, inside)
    finally:
        for command in (["link", "del", outside], ["netns", "del", name]):
            subprocess.run(["ip", *command], capture_output=True, timeout=30, check=False)


async def test_a_member_cut_off_from_nats_stops_its_entities_before_others_take_them_over(
    netns: Namespace, tmp_path: Path
) -> None:
    server = NatsServer(tmp_path, jetstream=True, host=netns.host_ip)
    server.start()
    name = "carts-partition"
    log = tmp_path / "handled.db"
    carts = "--carts", "--role", "carts"
    env = {"CLUSTER_LOG": str(log)}
    try:
        async with (
            ActorSystem("client", transport=NatsTransport(server.url, secret=SECRET)) as system,
            Cluster.join(system, name=name) as cluster,
            member_process(
                server.url, name, *carts, "--system", "m1", env=env, wrap=netns.wrap
            ) as m1,
            member_process(server.url, name, *carts, "--system", "m2", env=env),
        ):
            await cluster.register(Cart, role="carts", idle_timeout=None, lease=TIMING)
            await hosts_known(cluster, 2)
            on_m1 = await carts_on(cluster, "m1", "before")
            for cart in on_m1:  # handlers that run on, a row every 50 ms, until fenced
                cart.tell(("work", 60.0))
            for cart in on_m1:
                await m1.expect(f"working {cart.name}")

            cut_at = time.time()
            netns.cut()
            for cart in on_m1:  # m2 takes the keys over once m1's leases expire
                key, items, host = await ask_until(cart, "get", within=30)
                assert (key, items[0], host) == (cart.name, "before", "m2")
            # m1, still running, stopped them itself, each at its deadline: the
            # region once spent a NATS request timeout (5 s) on each lease it
            # could no longer release, one key after the other.
            with anyio.fail_after(TIMING.ttl + 5):
                for cart in on_m1:
                    stopped = await m1.expect(f"stopped {cart.name} ")
                    assert stopped.endswith(" lease lost"), stopped
            assert m1.process.returncode is None, "m1 was meant to be cut off, not dead"
    finally:
        await anyio.to_thread.run_sync(server.stop)

    spans = activations(log)
    assert_never_overlapped(spans)
    for cart in on_m1:
        first, *later = sorted(spans[cart.name].values())
        assert later, f"{cart.name} was not taken over: {spans[cart.name]}"
        # m1's activation was still at work after the cut, and ended before m2's began.
        assert first[1] > cut_at, f"m1's activation of {cart.name} stopped before the cut"
