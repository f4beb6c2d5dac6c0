"""Spawning through the cluster onto member processes, and placing again after a member is lost."""

from __future__ import annotations

import signal
from typing import Any

import anyio
import pytest

from actorlib import Actor, ActorRef, ActorSystem, Directive, OneForOne
from actorlib.cluster import ByRole, Cluster, ClusterError, LeastLoaded, RoundRobin
from actorlib.remote import NatsTransport, NodeLost
from tests.cluster.conftest import SECRET, member_process
from tests.cluster.member import Worker
from tests.helpers import Probe
from tests.nats_server import NatsServer

pytestmark = pytest.mark.anyio


async def members_known(cluster: Cluster, count: int) -> None:
    """Return once *cluster* knows *count* members (itself included)."""
    changed = [anyio.Event()]
    cluster.membership.listeners.append(lambda event: changed[0].set())
    with anyio.fail_after(15):
        while len(cluster.members()) < count:
            changed[0] = anyio.Event()
            await changed[0].wait()


FAILURES: list[Probe] = []


def report_and_restart(error: BaseException) -> Directive:
    """The parent's decider: report the failure, restart the child."""
    FAILURES[-1].put(("failed", type(error).__name__))
    return Directive.RESTART


class Parent(Actor):
    """Spawns a Worker through the cluster; its decider reports each failure, then restarts."""

    supervisor_strategy = OneForOne(decider=report_and_restart, max_restarts=5, within=30)

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.child: ActorRef[Any] | None = None

    async def on_start(self) -> None:
        where = self.cluster.placement(RoundRobin(), role="work")
        self.child = await self.context.spawn(Worker, 10, node=where, name="worker")

    async def receive(self, message: object) -> object:
        return self.child


async def test_spawned_actors_go_round_robin_and_a_lost_members_actor_is_placed_again(
    js_server: NatsServer,
) -> None:
    name = "placing"
    transport = NatsTransport(js_server.url, secret=SECRET)
    async with (
        ActorSystem("client", transport=transport) as system,
        Cluster.join(system, name=name) as cluster,
        member_process(js_server.url, name, "--role", "work", "--system", "w1") as w1,
        member_process(js_server.url, name, "--role", "work", "--system", "w2") as w2,
        member_process(js_server.url, name, "--system", "idle"),
    ):
        await members_known(cluster, 4)
        strategy = RoundRobin()
        placed = [await cluster.spawn(Worker, role="work", placement=strategy) for _ in range(4)]
        hosts = [await ref.ask("where") for ref in placed]
        assert sorted(hosts) == ["w1", "w1", "w2", "w2"]
        assert hosts[0] != hosts[1]
        by_role = await cluster.spawn(Worker, placement=ByRole("work", LeastLoaded()))
        assert await by_role.ask("where") in ("w1", "w2")

        probe = Probe()
        FAILURES.append(probe)
        parent = await system.spawn(Parent, cluster)
        worker = await parent.ask("get")
        assert await worker.ask("incr") == 11
        host = await worker.ask("where")
        victim, survivor = (w1, "w2") if host == "w1" else (w2, "w1")
        victim.signal(signal.SIGKILL)
        # The parent's strategy hears NodeLost first; its restart places the worker again.
        await probe.wait_for(lambda items: ("failed", "NodeLost") in items)
        with anyio.fail_after(10):
            while True:
                try:
                    where = await worker.ask("where", timeout=2)
                    break
                except NodeLost:
                    await anyio.sleep(0.05)  # retry pacing while the restart runs
        assert where == survivor
        assert await worker.ask("incr") == 11  # a fresh instance, from the same arguments


async def test_spawning_with_no_member_of_the_role_is_a_clear_error(
    js_server: NatsServer,
) -> None:
    transport = NatsTransport(js_server.url, secret=SECRET)
    async with (
        ActorSystem("alone", transport=transport) as system,
        Cluster.join(system, name="alone") as cluster,
    ):
        with pytest.raises(ClusterError, match="no other live member with role 'gpu'"):
            await cluster.spawn(Worker, role="gpu")
        with pytest.raises(TypeError, match="placement must be RoundRobin"):
            await cluster.spawn(Worker, placement="fastest")  # type: ignore[arg-type]
