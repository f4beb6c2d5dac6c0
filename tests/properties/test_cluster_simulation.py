"""The cluster's guarantees under simulation: random schedules, partitions, crashes, clock steps.

Each example runs a whole cluster (three nodes, each a real ActorSystem with
a NatsTransport on a simulated NATS network, one shared MemoryKV as the
JetStream server) in one process, under a schedule and faults that
hypothesis draws and shrinks:

- at most one activation per entity key holds a valid lease, checked after
  every step of the run, whatever the schedule, partitions, crashes and
  restarts, message faults and clock steps forward;
- once the partitions heal and crashed nodes restart, every member
  eventually lists exactly the live members (liveness, with `eventually`);
- a seeded bug (an account that acknowledges a deposit before persisting
  it, and persists a moment later) loses an acknowledged deposit when its
  node crashes in between: hypothesis finds the crash, shrinks it, and the
  shrunk replay repeats the failure exactly, step for step, on both
  backends; the fixed account (persist, then acknowledge) loses nothing.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable
from typing import Any, cast

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actorlib.cluster import Cluster, Entity, LeaseTiming
from actorlib.testing import (
    ClusterFault,
    CrashNode,
    Schedule,
    SimulatedCluster,
    cluster_faults,
    schedules,
)

BACKENDS = ("asyncio", "trio")
NODES = ["n1", "n2", "n3"]
KV = "kv"  # the JetStream server, as partitions name it (docs/testing.md)
KEYS = ["a", "b", "c"]
FAST = LeaseTiming(ttl=2, renew_every=0.25, stop_margin=0.25, pause_margin=0.5)
# The issue asks for 200 examples in CI; a development run takes fewer.
EXAMPLES = 200 if os.environ.get("CI") else 25
REPLAY = re.compile(r"SimulatedCluster\(schedule=(Schedule\.[a-z]+\((?:\[[\d, ]*\])?\))(.*)\)$")


@pytest.fixture(autouse=True)
def _quiet(caplog: pytest.LogCaptureFixture) -> None:
    # Partitions and crashes make members and links log failures: expected.
    for name in ("actorlib", "actorlib.cluster", "actorlib.remote"):
        caplog.set_level(logging.CRITICAL, logger=name)


# ---------------------------------------------------------------- one activation per key

LIVE: dict[str, list[Counter]] = {}


class Counter(Entity):
    """Counts and persists; its live activations are listed in LIVE."""

    def __init__(self) -> None:
        self.count = 0

    async def on_start(self) -> None:
        self.count = cast(int, self.entity.state or 0)
        LIVE.setdefault(self.entity.key, []).append(self)

    async def on_stop(self) -> None:
        LIVE[self.entity.key].remove(self)

    async def receive(self, message: object) -> object:
        self.count += 1
        await self.entity.persist(self.count)
        return self.count


def one_valid_activation_per_key() -> bool:
    for key, activations in LIVE.items():
        holders = [
            activation.context.system.name
            for activation in activations
            if activation.entity._lease.valid()
        ]
        assert len(holders) <= 1, f"key {key!r} is active with a valid lease on {holders}"
    return True


async def register_counter(cluster: Cluster) -> None:
    await cluster.register(Counter, lease=FAST)


async def ask_around(sim: SimulatedCluster, kind: type[Entity], keys: list[str]) -> list[object]:
    """Ask each key once from the live nodes in turn; what each ask got."""
    answers: list[object] = []
    for index, key in enumerate(keys):
        live = sim.live()
        if not live:
            break
        node = live[index % len(live)]
        try:
            answers.append(await sim.cluster(node).entity(kind, key).ask("incr", timeout=2.0))
        except AssertionError:
            raise  # an invariant failed: the cluster is frozen
        except Exception as error:  # a lost member, a timeout, a crashed node: allowed
            answers.append(type(error).__name__)
    return answers


async def activations(schedule: Schedule, faults: list[ClusterFault]) -> str:
    LIVE.clear()
    async with SimulatedCluster(
        nodes=NODES, schedule=schedule, faults=faults, setup=register_counter
    ) as sim:
        sim.always(one_valid_activation_per_key)
        await ask_around(sim, Counter, KEYS + KEYS)
        await sim.advance(3.0)  # leases expire, renewals run, members are declared lost
        await ask_around(sim, Counter, KEYS)
        return sim.report()


def at_most_one_activation(backend: str, rate: list[float]) -> Callable[[], None]:
    @settings(max_examples=EXAMPLES, database=None)
    @given(
        schedule=schedules(max_steps=120),
        faults=cluster_faults(NODES, max_faults=3, max_step=120),
    )
    def prop(schedule: Schedule, faults: list[ClusterFault]) -> None:
        started = time.perf_counter()
        anyio.run(activations, schedule, faults, backend=backend)
        rate.append(time.perf_counter() - started)

    return prop


@pytest.mark.parametrize("backend", BACKENDS)
def test_at_most_one_activation_per_key_holds_a_valid_lease_at_every_step(backend: str) -> None:
    seconds: list[float] = []
    at_most_one_activation(backend, seconds)()
    # Simulated examples per second, shown with -s (the issue asks for the figure).
    print(f"\n{backend}: {len(seconds)} examples, {len(seconds) / sum(seconds):.1f} examples/s")


# ---------------------------------------------------------------- membership agrees after healing


def agreement(sim: SimulatedCluster) -> bool:
    """Every live node lists exactly the live nodes as members."""
    live = sorted(sim.live())
    return all(
        sorted(member.node_id for member in sim.cluster(node).members()) == live for node in live
    )


def listed_by(sim: SimulatedCluster, node: str) -> list[str]:
    return sorted(member.node_id for member in sim.cluster(node).members())


async def heal_and_agree(
    schedule: Schedule, side: list[str], held: float, crashed: list[str]
) -> str:
    """Cut *side* off from the rest (the store, "kv", is on one side) for *held* seconds,
    crashing *crashed* meanwhile; then heal and restart them: members must agree."""
    async with SimulatedCluster(nodes=NODES, schedule=schedule, setup=register_counter) as sim:
        await ask_around(sim, Counter, KEYS)  # links and entities: messages to schedule
        rest = [name for name in [*NODES, KV] if name not in side]
        if rest:
            sim.partition(set(side), set(rest))
        for name in crashed:
            await sim.crash(name)
        await sim.advance(held)
        with_store = [n for n in (rest if KV in rest else side) if n in sim.live()]
        if held >= DOWN_BOUND:
            # Safety of detection: a member cut off from the store (or crashed) for
            # longer than down_after plus a heartbeat is no member for those with it.
            for node in with_store:
                cut_off = [n for n in NODES if n not in with_store]
                assert not set(cut_off) & set(listed_by(sim, node)), (
                    f"{node} still lists {cut_off} after {held:g} s cut off: {listed_by(sim, node)}"
                )
        sim.heal()
        for name in crashed:
            await sim.restart(name)
        # Liveness, under a fair schedule from here: the drawn choices are used up.
        await sim.eventually(lambda: agreement(sim), within=30.0)
        return sim.report()


# down_after (3 s) and a heartbeat's period, with room for the TTL's sweep.
DOWN_BOUND = 5.0


def membership_agrees_after_heal(backend: str) -> Callable[[], None]:
    @settings(max_examples=EXAMPLES, database=None)
    @given(
        schedule=schedules(max_steps=80),
        side=st.lists(st.sampled_from([*NODES, KV]), min_size=1, max_size=3, unique=True),
        held=st.floats(0.5, 8.0),
        crashed=st.lists(st.sampled_from(NODES), max_size=1),
    )
    def prop(schedule: Schedule, side: list[str], held: float, crashed: list[str]) -> None:
        anyio.run(heal_and_agree, schedule, side, held, crashed, backend=backend)

    return prop


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_member_eventually_agrees_on_membership_after_partitions_heal(backend: str) -> None:
    membership_agrees_after_heal(backend)()


# ---------------------------------------------------------------- a seeded bug, found and shrunk


class WriteBehindAccount(Entity):
    """The seeded bug: acknowledges a deposit at once, persists it a moment later."""

    def __init__(self) -> None:
        self.balance = 0

    async def on_start(self) -> None:
        self.balance = cast(int, self.entity.state or 0)

    async def receive(self, message: object) -> object:
        match message:
            case "incr":
                self.balance += 1
                self.context.timers.start_single("persist", "persist", 0.5)
                return self.balance  # acknowledged: not yet persisted
            case "persist":
                await self.entity.persist(self.balance)
            case "balance":
                return self.balance
        return None


class Account(Entity):
    """The fix: persists a deposit, then acknowledges it."""

    def __init__(self) -> None:
        self.balance = 0

    async def on_start(self) -> None:
        self.balance = cast(int, self.entity.state or 0)

    async def receive(self, message: object) -> object:
        match message:
            case "incr":
                await self.entity.persist(self.balance + 1)
                self.balance += 1
                return self.balance
            case "balance":
                return self.balance
        return None


def registering(kind: type[Entity]) -> Callable[[Cluster], Any]:
    async def register(cluster: Cluster) -> None:
        await cluster.register(kind, lease=FAST, idle_timeout=None)

    return register


async def deposits(
    kind: type[Entity], schedule: Schedule, faults: list[ClusterFault]
) -> tuple[int, int | None, str]:
    """Two deposits to one account, then its balance once the dust settles.

    Returns the highest acknowledged balance, the balance read afterwards
    (None if no node could tell), and the cluster's report.
    """
    async with SimulatedCluster(
        nodes=["n1", "n2"], schedule=schedule, faults=faults, setup=registering(kind)
    ) as sim:
        acknowledged = 0
        for answer in await ask_around(sim, kind, ["acct", "acct"]):
            if isinstance(answer, int):
                acknowledged = max(acknowledged, answer)
        await sim.advance(5.0)  # a crashed host's lease expires; its key moves
        balance: int | None = None
        for node in sim.live():
            try:
                balance = await sim.cluster(node).entity(kind, "acct").ask("balance", timeout=2)
                break
            except Exception:
                continue
        return acknowledged, balance, sim.report()


def no_acknowledged_deposit_lost(kind: type[Entity], backend: str) -> Callable[[], None]:
    @settings(max_examples=EXAMPLES, database=None)
    @given(
        schedule=schedules(max_steps=40),
        faults=st.lists(
            st.builds(CrashNode, node=st.sampled_from(["n1", "n2"]), at=st.integers(1, 40)),
            max_size=1,
        ),
    )
    def prop(schedule: Schedule, faults: list[ClusterFault]) -> None:
        acknowledged, balance, _ = anyio.run(deposits, kind, schedule, faults, backend=backend)
        if balance is not None:
            assert balance >= acknowledged, (
                f"an acknowledged deposit was lost: {acknowledged} acknowledged, balance {balance}"
            )

    return prop


def shrunk_replay(prop: Callable[[], None]) -> tuple[Schedule, list[ClusterFault], str]:
    """Run *prop*, which must fail; the shrunk schedule and faults, and the report noted."""
    with pytest.raises(AssertionError, match="an acknowledged deposit was lost") as caught:
        prop()
    notes = [note for note in caught.value.__notes__ if note.startswith("simulation trace")]
    assert notes, caught.value.__notes__
    report = notes[-1]
    found = REPLAY.search(report.splitlines()[-1])
    assert found, report
    schedule = eval(found.group(1), {"Schedule": Schedule})
    faults_code = found.group(2).removeprefix(", faults=")
    faults = eval(faults_code, {"CrashNode": CrashNode}) if faults_code else []
    return schedule, faults, report


def steps_of(report: str) -> list[str]:
    return [line.split(". ", 1)[1] for line in report.splitlines() if re.match(r"^ *\d+\. ", line)]


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_fixed_account_loses_no_acknowledged_deposit(backend: str) -> None:
    no_acknowledged_deposit_lost(Account, backend)()


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_deposit_acknowledged_before_it_is_persisted_is_found_shrunk_and_replayed_exactly(
    backend: str,
) -> None:
    schedule, faults, report = shrunk_replay(
        no_acknowledged_deposit_lost(WriteBehindAccount, backend)
    )
    # Shrunk to one crash, in the natural order or close to it.
    assert len(faults) == 1, report
    assert sum(1 for choice in schedule._choices if choice) <= 2, report
    assert any("crash (cut off" in step for step in steps_of(report)), report
    # The one-line replay repeats the failure, step for step.
    acknowledged, balance, again = anyio.run(
        deposits, WriteBehindAccount, schedule, faults, backend=backend
    )
    assert balance is not None
    assert balance < acknowledged, again
    assert steps_of(again) == steps_of(report)
