"""actorlib.testing scenarios: simulated deliveries/s, hypothesis examples/s, the bank property."""

from __future__ import annotations

import asyncio
import importlib.util
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import anyio
import anyio.to_thread

from actorlib import Actor, ActorRef, ActorSystem
from actorlib.testing import ClusterFault, Schedule, SimulatedCluster, SimulatedSystem, schedules
from benchmarks._scenario import Measure, Scenario, ValueBelow

ACTORS = 10
_EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "bank_transfer.py"


class _Tally:
    """Counts handled counters across the ring; `done` is set at `expected`."""

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.seen = 0
        self.done = anyio.Event()


class _Relay(Actor):
    """One of a ring of actors passing counters on until they reach zero.

    It finds its successor in the shared ring list: had the ref come in a
    message, a counter could overtake it under a random schedule (the
    simulator found exactly that race in a first version of this benchmark).
    """

    def __init__(self, tally: _Tally, ring: list[ActorRef[Any]], index: int) -> None:
        self.tally = tally
        self.ring = ring
        self.index = index

    async def receive(self, message: object) -> object:
        assert isinstance(message, int)
        self.tally.seen += 1
        if self.tally.seen == self.tally.expected:
            self.tally.done.set()
        if message > 0:
            self.ring[(self.index + 1) % ACTORS].tell(message - 1)
        return None


async def _ring(system: ActorSystem, deliveries: int) -> _Tally:
    per_actor = deliveries // ACTORS
    tally = _Tally(per_actor * ACTORS)
    ring: list[ActorRef[Any]] = []
    for index in range(ACTORS):
        ring.append(await system.spawn(_Relay, tally, ring, index))
    # Every actor starts a counter: ten interleaving streams of tells.
    for relay in ring:
        relay.tell(per_actor - 1)
    return tally


async def simulated_deliveries(deliveries: int) -> float:
    """A 10-actor protocol under a random schedule; every delivery chosen by the simulator."""
    async with SimulatedSystem("bench-sim", schedule=Schedule.random(1)) as system:
        start = time.perf_counter()
        tally = await _ring(system, deliveries)
        await system.settle()
        elapsed = time.perf_counter() - start
        assert tally.done.is_set(), tally.seen
    return elapsed


async def plain_deliveries(deliveries: int) -> float:
    """The same protocol on a plain ActorSystem: the cost of controlling every delivery."""
    async with ActorSystem("bench-plain") as system:
        start = time.perf_counter()
        tally = await _ring(system, deliveries)
        await tally.done.wait()
        return time.perf_counter() - start


def _bank() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bank_transfer", _EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _backend_name() -> str:
    """The anyio backend running this task (the inner runs use the same one)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return "trio"
    return "asyncio"


def _property_examples(examples: int, fixed: bool, backend: str) -> float:
    """Run the bank property for `examples` examples under hypothesis; seconds taken."""
    from hypothesis import given, settings

    bank = _bank()
    saga = bank.AtomicWithdraw if fixed else bank.CheckThenDebit

    @settings(max_examples=examples, database=None, deadline=None)
    @given(schedule=schedules())
    def prop(schedule: Schedule) -> None:
        result, _ = anyio.run(bank.simulate, saga, schedule, backend=backend)
        bank.check(result)

    start = time.perf_counter()
    prop()
    return time.perf_counter() - start


def _fifo_runs(examples: int, backend: str) -> float:
    bank = _bank()
    start = time.perf_counter()
    for _ in range(examples):
        result, _ = anyio.run(bank.simulate, bank.AtomicWithdraw, Schedule.fifo(), backend=backend)
        bank.check(result)
    return time.perf_counter() - start


async def hypothesis_examples(examples: int) -> float:
    """The fixed bank protocol's property: hypothesis draws and runs `examples` schedules."""
    # Each example runs its own event loop, so the search runs in a thread.
    return await anyio.to_thread.run_sync(_property_examples, examples, True, _backend_name())


async def fifo_examples(examples: int) -> float:
    """The same number of bank runs, natural order only: hypothesis's own overhead."""
    return await anyio.to_thread.run_sync(_fifo_runs, examples, _backend_name())


def _find_and_shrink(backend: str) -> float:
    start = time.perf_counter()
    try:
        _property_examples(100, False, backend)  # hypothesis's default max_examples
    except AssertionError:
        return time.perf_counter() - start
    raise AssertionError("hypothesis did not find the race in the buggy bank saga")


async def bank_property_seconds(_: int) -> float:
    """Seconds for the buggy bank property to fail: find the race, then shrink it."""
    return await anyio.to_thread.run_sync(_find_and_shrink, _backend_name())


async def fixed_bank_property_seconds(_: int) -> float:
    """Seconds for the fixed bank property to pass its 100 examples."""
    return await anyio.to_thread.run_sync(_property_examples, 100, True, _backend_name())


# ---------------------------------------------------------------- a simulated cluster

CLUSTER_NODES = ["n1", "n2", "n3"]
CLUSTER_ENTITIES = 100


def _cluster_kind() -> type[Any]:
    from actorlib.cluster import Entity

    class Tally(Entity):
        async def receive(self, message: object) -> object:
            return message

    return Tally


async def _cluster_run(schedule: Schedule, faults: list[ClusterFault]) -> int:
    """Three nodes, one ask to each of 100 entities from the live nodes in turn; steps taken."""
    import logging

    kind = _cluster_kind()

    async def setup(cluster: Any) -> None:
        await cluster.register(kind)

    logging.getLogger("actorlib").setLevel(logging.CRITICAL)  # partitions log heartbeats
    async with SimulatedCluster(
        nodes=CLUSTER_NODES, schedule=schedule, faults=faults, setup=setup
    ) as sim:
        for index in range(CLUSTER_ENTITIES):
            live = sim.live()
            try:
                await (
                    sim.cluster(live[index % len(live)])
                    .entity(kind, f"k{index}")
                    .ask(index, timeout=2.0)
                )
            except Exception:  # a partition or a crash: an ask may fail
                continue
        return len(sim.trace)


def _cluster_examples(examples: int, backend: str) -> float:
    from hypothesis import HealthCheck, given, settings

    from actorlib.testing import cluster_faults

    @settings(
        max_examples=examples,
        database=None,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(schedule=schedules(max_steps=200), faults=cluster_faults(CLUSTER_NODES))
    def prop(schedule: Schedule, faults: list[ClusterFault]) -> None:
        anyio.run(_cluster_run, schedule, faults, backend=backend)

    start = time.perf_counter()
    prop()
    return time.perf_counter() - start


def _cluster_fifo_runs(examples: int, backend: str) -> float:
    start = time.perf_counter()
    for _ in range(examples):
        anyio.run(_cluster_run, Schedule.fifo(), [], backend=backend)
    return time.perf_counter() - start


async def cluster_examples(examples: int) -> float:
    """Hypothesis examples of a 3-node simulated cluster with 100 entities, faults drawn."""
    return await anyio.to_thread.run_sync(_cluster_examples, examples, _backend_name())


async def cluster_fifo_examples(examples: int) -> float:
    """The same runs in the natural order, without faults: the cost of one cluster run."""
    return await anyio.to_thread.run_sync(_cluster_fifo_runs, examples, _backend_name())


SCENARIOS = (
    Scenario(
        name="sim-deliveries",
        unit="deliveries/s",
        size=5_000,
        describe=lambda n: f"{ACTORS} actors, {n:,} deliveries, random schedule (vs plain system)",
        actorlib=simulated_deliveries,
        raw=plain_deliveries,
        target=None,
    ),
    Scenario(
        name="sim-examples",
        unit="examples/s",
        size=100,
        describe=lambda n: f"bank property, {n} hypothesis examples (vs {n} fifo runs)",
        actorlib=hypothesis_examples,
        raw=fifo_examples,
        target=None,
    ),
    Scenario(
        name="bank-property",
        unit="seconds",
        size=1,
        describe=lambda n: (
            "buggy bank saga: find + shrink, default settings (vs fixed: 100 passing)"
        ),
        actorlib=bank_property_seconds,
        raw=fixed_bank_property_seconds,
        target=ValueBelow(10.0, "10 s"),
        measure=Measure.AMOUNT,
    ),
    Scenario(
        name="sim-cluster-examples",
        unit="examples/s",
        size=10,
        describe=lambda n: (
            f"3-node SimulatedCluster, {CLUSTER_ENTITIES} entities: {n} hypothesis examples "
            f"with cluster_faults() (vs {n} fifo runs without faults)"
        ),
        actorlib=cluster_examples,
        raw=cluster_fifo_examples,
        target=None,
    ),
)
