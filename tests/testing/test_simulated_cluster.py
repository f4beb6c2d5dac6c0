"""SimulatedCluster: nodes on a simulated NATS network, one schedule, partitions, crashes, skew.

Every node is a real ActorSystem with a NatsTransport whose client is a
simulated one, joined to one cluster whose KV store is a shared MemoryKV:
no NATS server, both backends, virtual time.
"""

from __future__ import annotations

import logging
from typing import cast

import pytest

from actorlib import Actor, AskTimeout
from actorlib.cluster import Cluster, ClusterError, Entity, LeaseTiming
from actorlib.testing import (
    ClusterFault,
    CrashNode,
    Heal,
    NetworkDelay,
    NetworkDrop,
    NetworkDuplicate,
    Partition,
    Schedule,
    SimulatedCluster,
    Skew,
)

pytestmark = pytest.mark.anyio


@pytest.fixture(autouse=True)
def _quiet(caplog: pytest.LogCaptureFixture) -> None:
    # Partitions make members log failed heartbeats: expected here.
    caplog.set_level(logging.ERROR, logger="actorlib.cluster")


class Echo(Actor):
    async def receive(self, message: object) -> object:
        return f"echo {message}"


def members(sim: SimulatedCluster, node: str) -> list[str]:
    return [member.node_id for member in sim.cluster(node).members()]


async def test_a_remote_ask_crosses_the_simulated_network_one_scheduled_message_at_a_time() -> None:
    async with SimulatedCluster(nodes=2) as sim:
        await sim.node("n2").spawn(Echo, name="echo")
        ref = await sim.cluster("n1").transport.lookup("/user/echo")
        assert ref is not None
        async with sim.waiting():
            assert await ref.ask("hi") == "echo hi"
        lines = str(sim.trace).splitlines()
    assert "  1. n1 -> n1: nats flush #1" in lines
    assert any(line.endswith("n1 -> n2: nats link request #1") for line in lines)
    assert any(line.endswith("test -> n2:/user/echo: ask 'hi'") for line in lines)
    assert any(line.endswith("n2:/user/echo -> test: reply 'echo hi'") for line in lines)
    assert any(" n2 -> n1: nats link 1 #" in line for line in lines)


async def scenario(schedule: Schedule) -> tuple[str, list[int], list[object]]:
    """Asks from one node to the other and back, under *schedule*."""
    async with SimulatedCluster(nodes=2, schedule=schedule) as sim:
        await sim.node("n1").spawn(Echo, name="a")
        await sim.node("n2").spawn(Echo, name="b")
        b = await sim.cluster("n1").transport.lookup("/user/b")
        a = await sim.cluster("n2").transport.lookup("/user/a")
        assert a is not None
        assert b is not None
        async with sim.waiting():
            answers = [await b.ask(1), await a.ask(2), await b.ask(3)]
        await sim.settle()
        return str(sim.trace), list(sim.schedule.made), answers


async def test_a_replay_of_a_random_schedule_repeats_the_run_step_for_step() -> None:
    for seed in range(4):
        trace, made, answers = await scenario(Schedule.random(seed))
        again, made_again, answers_again = await scenario(Schedule.replay(made))
        assert again == trace
        assert made_again == made
        assert answers_again == answers == ["echo 1", "echo 2", "echo 3"]


async def test_three_nodes_join_and_every_member_agrees_on_the_membership() -> None:
    async with SimulatedCluster(nodes=3) as sim:
        assert sim.names == ["n1", "n2", "n3"]
        for node in sim.names:
            assert members(sim, node) == ["n1", "n2", "n3"]
            assert sim.cluster(node).node_id == node


async def test_a_partitioned_member_is_declared_down_by_the_others_and_agreed_on_after_heal() -> (
    None
):
    async with SimulatedCluster(nodes=3, down_after=3) as sim:
        sim.partition({"n1"}, {"n2", "n3"})
        # n1 is cut off from the JetStream server: its heartbeat entry expires
        # down_after seconds after its last beat, on the store's (virtual) time.
        await sim.eventually(
            lambda: members(sim, "n2") == members(sim, "n3") == ["n2", "n3"], within=10
        )
        assert 3.0 <= sim.clock.now() <= 4.0
        assert members(sim, "n1") == ["n1", "n2", "n3"]  # it hears nothing: a stale view
        with pytest.raises(ClusterError, match="cannot reach the JetStream server"):
            await sim.cluster("n1").bucket.read("m.n1", limit=4096)
        sim.heal()
        await sim.eventually(
            lambda: all(members(sim, node) == ["n1", "n2", "n3"] for node in sim.names),
            within=10,
        )
        lines = str(sim.trace).splitlines()
    assert any(line.endswith("fault -> cluster: partition {n1} | {n2, n3, kv}") for line in lines)
    assert any(
        line.endswith("fault -> cluster: heal every node reaches every other") for line in lines
    )


async def test_messages_across_a_partition_are_lost_and_the_trace_says_so() -> None:
    async with SimulatedCluster(nodes=2) as sim:
        await sim.node("n2").spawn(Echo, name="echo")
        sim.partition({"n1"}, {"n2"})
        async with sim.waiting():  # the lookup's timeout runs on virtual time
            assert await sim.cluster("n1").transport.lookup("/user/echo", timeout=0.3) is None
        sim.heal()
        async with sim.waiting():
            assert await sim.cluster("n1").transport.lookup("/user/echo") is not None
        lines = str(sim.trace).splitlines()
    assert any(line.endswith("n1 -> n2: lost lookup #1 (partition)") for line in lines)


class Counter(Entity):
    """Counts "incr"s, persisted; on_start and on_stop are tracked in ACTIVE."""

    def __init__(self) -> None:
        self.count = 0

    async def on_start(self) -> None:
        self.count = cast(int, self.entity.state or 0)
        ACTIVE.append((self.context.system.name, self.entity.key))

    async def on_stop(self) -> None:
        ACTIVE.remove((self.context.system.name, self.entity.key))

    async def receive(self, message: object) -> object:
        if message == "get":
            return self.count
        self.count += 1
        await self.entity.persist(self.count)
        return self.count


ACTIVE: list[tuple[str, str]] = []
FAST = LeaseTiming(ttl=2, renew_every=0.25, stop_margin=0.25, pause_margin=0.5)


async def register(cluster: Cluster) -> None:
    await cluster.register(Counter, lease=FAST, idle_timeout=None)


async def test_a_crashed_node_loses_what_it_did_not_persist_and_a_restart_rejoins() -> None:
    ACTIVE.clear()
    async with SimulatedCluster(nodes=2, setup=register) as sim:
        counter = sim.cluster("n1").entity(Counter, "k")
        assert await counter.ask("incr") == 1
        assert await counter.ask("incr") == 2
        (host,) = {node for node, key in ACTIVE if key == "k"}
        other = "n2" if host == "n1" else "n1"
        await sim.crash(host)
        assert sim.live() == [other]
        assert (host, "k") not in ACTIVE
        with pytest.raises(RuntimeError, match="has crashed"):
            sim.cluster(host)
        # The lease expires on the store's time: the other member takes the
        # key, with the state persisted before the crash.
        await sim.eventually(lambda: members(sim, other) == [other], within=10)
        again = sim.cluster(other).entity(Counter, "k")
        assert await again.ask("incr", timeout=10) == 3
        await sim.restart(host)
        await sim.eventually(
            lambda: members(sim, "n1") == members(sim, "n2") == ["n1", "n2"], within=10
        )
        lines = str(sim.trace).splitlines()
    assert any(f"fault -> {host}: crash (cut off" in line for line in lines)
    assert any(line.endswith(f"fault -> {host}: restart (a fresh system)") for line in lines)


async def test_network_faults_strike_the_nth_message_between_two_nodes() -> None:
    faults: list[ClusterFault] = [
        NetworkDuplicate(sender="n1", to="n2", nth=1),
        NetworkDelay(2.5, sender="n2", to="n1", nth=1),
        NetworkDrop(sender="n1", to="n2", nth=9),
    ]
    async with SimulatedCluster(nodes=2, faults=faults) as sim:
        await sim.node("n2").spawn(Echo, name="echo")
        async with sim.waiting():
            found = await sim.cluster("n1").transport.lookup("/user/echo", timeout=5)
            assert found is not None
            # The link's handshake goes through; the frame of the ask is lost.
            with pytest.raises(AskTimeout):
                await found.ask("hi", timeout=3)
        steps = [step for step in sim.trace if step.kind in ("duplicate", "delay", "drop")]
        report = sim.report()
    # The lookup is tried again while its answer is delayed (on virtual time).
    assert [(s.sender, s.recipient, s.kind) for s in steps] == [
        ("n1", "n2", "duplicate"),
        ("n2", "n1", "delay"),
        ("n1", "n2", "drop"),
    ], report
    assert "faults=[NetworkDuplicate(sender='n1', to='n2', nth=1)" in report


async def test_a_skew_steps_a_node_clock_off_the_shared_time_with_its_deadlines() -> None:
    async with SimulatedCluster(nodes=2, faults=[Skew("n2", 30.0, at=1)]) as sim:
        await sim.node("n2").spawn(Echo, name="echo")  # a step after the start
        await sim.settle()
        assert sim.node("n2").clock.now() == pytest.approx(sim.clock.now() + 30.0)
        assert sim.node("n1").clock.now() == pytest.approx(sim.clock.now())
        # Its heartbeats were due at its old readings: they all come due at
        # once, and time flows on at the same rate on every node.
        await sim.advance(4.0)
        assert sim.clock.now() == pytest.approx(4.0)
        assert members(sim, "n1") == members(sim, "n2") == ["n1", "n2"]
        # A step back puts its deadlines off: its heartbeat entry expires.
        sim.skew("n2", 20.0)
        await sim.eventually(lambda: members(sim, "n1") == ["n1"], within=10)
        lines = str(sim.trace).splitlines()
    assert any(line.endswith("fault -> n2: skew +30 s") for line in lines)
    assert any(line.endswith("fault -> n2: skew +20 s") for line in lines)


async def test_planned_faults_strike_before_their_step_and_the_replay_line_carries_them() -> None:
    faults: list[ClusterFault] = [Partition([["n2"]], at=2), Heal(at=3), CrashNode("n3", at=3)]
    async with SimulatedCluster(nodes=3, faults=faults) as sim:
        start = len(sim.trace)
        await sim.node("n2").spawn(Echo, name="echo")
        async with sim.waiting():
            await sim.cluster("n1").transport.lookup("/user/echo", timeout=0.5)
        await sim.settle()
        assert sim.live() == ["n1", "n2"]
        report = sim.report()
    kinds = [step.kind for step in sim.trace[start:]]
    assert kinds.index("partition") < kinds.index("heal") < kinds.index("crash")
    assert report.endswith(
        "replay it with: SimulatedCluster(schedule=Schedule.fifo(), faults=["
        "Partition(groups=(('n2',),), at=2), Heal(at=3), CrashNode(node='n3', at=3)])"
    )


async def invariant_run(steps: list[int]) -> None:
    async with SimulatedCluster(nodes=2) as sim:

        def few_steps() -> bool:
            steps.append(len(sim.trace))
            return len(sim.trace) < 3

        sim.always(few_steps)
        await sim.node("n2").spawn(Echo, name="echo")
        async with sim.waiting():
            await sim.cluster("n1").transport.lookup("/user/echo", timeout=0.3)
        await sim.settle()


async def test_an_invariant_checked_after_every_step_freezes_the_cluster_when_it_fails() -> None:
    steps: list[int] = []
    with pytest.raises(
        AssertionError, match=r"always\(few_steps\) did not hold after step"
    ) as caught:
        await invariant_run(steps)
    assert steps[-1] == 3
    assert any("simulation trace of cluster 'sim'" in note for note in caught.value.__notes__)


async def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="at least one node"):
        SimulatedCluster(nodes=0)
    with pytest.raises(ValueError, match="must differ"):
        SimulatedCluster(nodes=["a", "a"])
    with pytest.raises(ValueError, match="names no node"):
        SimulatedCluster(nodes=2, faults=[CrashNode("n9")])
    with pytest.raises(TypeError, match="schedule must be a Schedule"):
        SimulatedCluster(schedule=[0, 1])  # type: ignore[arg-type]
    async with SimulatedCluster(nodes=2) as sim:
        with pytest.raises(ValueError, match="in two groups"):
            sim.partition({"n1"}, {"n1", "n2"})
        with pytest.raises(ValueError, match="no node 'n7'"):
            sim.partition({"n7"})
        with pytest.raises(RuntimeError, match="crash it before restarting"):
            await sim.restart("n1")
