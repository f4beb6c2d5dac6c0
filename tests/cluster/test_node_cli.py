"""``python -m actorlib.remote node --cluster NAME``: standalone nodes that join a cluster and
host its entities."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import pytest

from actorlib import ActorSystem
from actorlib.cluster import Cluster
from actorlib.remote import NatsTransport
from tests.cluster.conftest import ROOT, SECRET, MemberProcess
from tests.cluster.member import Cart
from tests.cluster.test_cli import ENV, cli
from tests.nats_server import NatsServer

pytestmark = pytest.mark.anyio

CARTS = 20


def node_command(*args: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "actorlib.remote",
        "node",
        "--secret-env",
        "CLUSTER_SECRET",
        *args,
    ]


@asynccontextmanager
async def node(url: str, cluster: str, system: str) -> AsyncIterator[MemberProcess]:
    """A node process in *cluster* with role carts, hosting `Cart`; stopped with SIGTERM."""
    command = node_command("--listen", url, "--name", system, "--cluster", cluster)
    command += ["--role", "carts", "--import", "tests.cluster.member"]
    process = await anyio.open_process(command, cwd=ROOT, env=ENV, stdin=subprocess.DEVNULL)
    member = MemberProcess(process)
    try:
        listening = await member.expect("node ")
        member.node_id = listening.split()[1]
        joined = await member.expect("member ")
        assert joined == f"member {member.node_id} joined cluster {cluster} (Cart)"
        yield member
        os.kill(process.pid, signal.SIGTERM)
        assert await member.expect(f"member {member.node_id} leaving")
        assert await member.expect(f"node {member.node_id} stopping")
        with anyio.fail_after(10):
            assert await process.wait() == 0
    finally:
        if process.returncode is None:
            os.kill(process.pid, signal.SIGKILL)
        with anyio.CancelScope(shield=True), anyio.fail_after(10):
            await process.wait()
            await process.aclose()


async def test_two_nodes_join_a_cluster_host_its_entities_and_are_listed(
    js_server: NatsServer,
) -> None:
    name = "node-cli"
    async with (
        node(js_server.url, name, "node-a") as a,
        node(js_server.url, name, "node-b") as b,
        ActorSystem("sender", transport=NatsTransport(js_server.url, secret=SECRET)) as system,
        Cluster.join(system, name=name) as cluster,
    ):
        # This member routes carts but lacks the role: every cart lives on a node.
        await cluster.register(Cart, role="carts")
        with anyio.fail_after(30):
            await cluster.wait_members(2, hosting=Cart)
        hosts = set()
        for i in range(CARTS):
            cart = cluster.entity(Cart, f"user-{i}")
            assert await cart.ask(("add", "apple")) == 1
            key, items, host = await cart.ask("get")
            assert (key, items) == (f"user-{i}", ["apple"])
            hosts.add(host)
        assert hosts == {"node-a", "node-b"}

        common = ["--nats", js_server.url, "--name", name, "--secret-env", "CLUSTER_SECRET"]
        listed = await anyio.to_thread.run_sync(lambda: cli("members", *common))
        assert listed.returncode == 0, listed.stderr
        rows = {line.split()[0]: line.split() for line in listed.stdout.splitlines()[1:-1]}
        for member in (a, b):
            assert rows[member.node_id][1] == "carts"
            assert rows[member.node_id][-1] == "Cart"
        assert rows[cluster.node_id][1] == "-"
        assert listed.stdout.rstrip().endswith(f"3 member(s) in cluster {name}")


def refused(*args: str) -> str:
    """Run a node with *args*; it must exit at once with an error; its stderr."""
    done = subprocess.run(
        node_command(*args), cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=60
    )
    assert done.returncode != 0
    assert "listening" not in done.stdout
    assert "Traceback" not in done.stderr
    return done.stderr


def test_a_node_refuses_to_join_with_modules_that_host_nothing(js_server: NatsServer) -> None:
    cluster = ["--listen", js_server.url, "--cluster", "refusals", "--role", "carts"]
    missing = refused(*cluster, "--import", "tests.cluster.no_such_module")
    assert (
        "--import tests.cluster.no_such_module: the module failed to import "
        "(ModuleNotFoundError: No module named 'tests.cluster.no_such_module'); "
        "check its name and PYTHONPATH"
    ) in missing
    broken = refused(*cluster, "--import", "tests.cluster.broken_kinds")
    assert (
        "--import tests.cluster.broken_kinds: the module failed to import "
        "(RuntimeError: broken_kinds fails to import on purpose)"
    ) in broken
    empty = refused(*cluster, "--import", "json")
    assert "--import json: it defines no Entity subclass, so the member would host nothing" in empty


def test_cluster_options_need_a_cluster_on_nats(js_server: NatsServer, tmp_path: Path) -> None:
    alone = refused("--listen", js_server.url, "--import", "tests.cluster.member")
    assert "--import is for a cluster member; add --cluster NAME" in alone
    role = refused("--listen", js_server.url, "--role", "carts")
    assert "--role is for a cluster member; add --cluster NAME" in role
    socket = refused("--listen", f"unix:{tmp_path}/node.sock", "--cluster", "shop")
    assert (
        f"--cluster needs a NATS server with JetStream, got --listen unix:{tmp_path}/node.sock; "
        "use --listen nats://host:port"
    ) in socket
