"""Supervision properties: random trees with random failures, and restart-intensity counting."""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable

import anyio
import pytest
from hypothesis import given
from hypothesis import strategies as st

from actorlib import (
    Actor,
    ActorRef,
    ActorStopped,
    ActorSystem,
    Directive,
    OneForOne,
    PoisonPill,
    SupervisorStrategy,
    Terminated,
)
from tests.properties.strategies import (
    BACKENDS,
    FailureTimes,
    NodeSpec,
    TreeScenario,
    failure_times,
    first_stopping_failure,
    tree_scenarios,
)

_instances = itertools.count(1)


class Boom(Exception):
    """A distinctive failure."""


def strategy_for(spec: NodeSpec) -> SupervisorStrategy:
    directive = spec.directive

    def decide(error: BaseException) -> Directive:
        return directive

    return OneForOne(max_restarts=spec.max_restarts, within=60.0, decider=decide)


class Node(Actor):
    """One node of a random tree; logs ("start", index, instance, parent instance) and stops."""

    def __init__(
        self,
        index: int,
        scenario: TreeScenario,
        log: list[tuple[object, ...]],
        start_attempts: Counter[int],
        parent_instance: int | None,
    ) -> None:
        self.index = index
        self.scenario = scenario
        self.log = log
        self.start_attempts = start_attempts
        self.parent_instance = parent_instance
        self.instance = next(_instances)

    async def on_start(self) -> None:
        self.start_attempts[self.index] += 1
        if self.start_attempts[self.index] <= self.scenario.nodes[self.index].failing_starts:
            raise Boom(f"on_start of node {self.index}")
        self.log.append(("start", self.index, self.instance, self.parent_instance))

    async def on_stop(self) -> None:
        self.log.append(("stop", self.index, self.instance))

    async def receive(self, message: object) -> object:
        match message:
            case ("spawn", int(child)):
                return await self.context.spawn(
                    Node,
                    child,
                    self.scenario,
                    self.log,
                    self.start_attempts,
                    self.instance,
                    name=f"n{child}",
                    supervisor=strategy_for(self.scenario.nodes[child]),
                )
            case "fail":
                raise Boom(f"node {self.index}")
        return None


async def run_scenario(scenario: TreeScenario) -> list[tuple[object, ...]]:
    log: list[tuple[object, ...]] = []
    attempts: Counter[int] = Counter()
    refs: dict[int, ActorRef[object]] = {}
    with anyio.fail_after(10):
        async with ActorSystem("tree") as system:
            for index, spec in enumerate(scenario.nodes):
                if spec.parent is None:
                    refs[index] = await system.spawn(
                        Node, index, scenario, log, attempts, None,
                        name=f"n{index}", supervisor=strategy_for(spec),
                    )  # fmt: skip
                elif spec.parent in refs:
                    try:
                        refs[index] = await refs[spec.parent].ask(("spawn", index))
                    except ActorStopped:
                        pass  # the parent was stopped: this subtree never exists
            for kind, index in scenario.actions:
                ref = refs.get(index)
                if ref is None:
                    continue
                if kind == "fail":
                    ref.tell("fail")
                elif kind == "stop":
                    await system.stop(ref)
                elif kind == "poison":
                    ref.tell(PoisonPill())
                else:
                    try:
                        await ref.ask("sync")
                    except ActorStopped:
                        pass
    return log


@pytest.mark.parametrize("backend", BACKENDS)
@given(scenario=tree_scenarios())
def test_every_started_instance_is_stopped_exactly_once_children_before_parents(
    backend: str, scenario: TreeScenario
) -> None:
    log = anyio.run(run_scenario, scenario, backend=backend)
    starts = {(entry[1], entry[2]): entry[3] for entry in log if entry[0] == "start"}
    stops = [(entry[1], entry[2]) for entry in log if entry[0] == "stop"]
    assert Counter(stops) == Counter(starts.keys()), "on_stop must run once per started instance"
    position = {stop: i for i, stop in enumerate(stops)}
    instance_node = {instance: node for node, instance in starts}
    for (node, instance), parent_instance in starts.items():
        if parent_instance not in instance_node:
            # Top-level, or a parent whose on_start failed and was resumed: it never
            # started, so it has no on_stop to order against.
            continue
        parent = (instance_node[parent_instance], parent_instance)
        assert position[(node, instance)] < position[parent], (
            f"node {node} (instance {instance}) stopped after its parent {parent}"
        )


# ---------------------------------------------------------------- restart intensity


class Log:
    """What the child and its parent report; waiting on it replaces sleeping."""

    def __init__(self) -> None:
        self.entries: list[str] = []
        self._changed = anyio.Event()

    def append(self, entry: str) -> None:
        self.entries.append(entry)
        self._changed.set()
        self._changed = anyio.Event()

    def count(self, entry: str) -> int:
        return self.entries.count(entry)

    def restarted_or_stopped(self, since: int) -> Callable[[], bool]:
        """True once there are more than *since* starts, or a Terminated."""
        return lambda: self.count("start") > since or self.count("terminated") > 0

    async def wait_for(self, condition: Callable[[], bool]) -> None:
        with anyio.fail_after(5):
            while not condition():
                await self._changed.wait()


class Child(Actor):
    """Fails on "fail"; logs each start."""

    def __init__(self, log: Log) -> None:
        self.log = log

    async def on_start(self) -> None:
        self.log.append("start")

    async def receive(self, message: object) -> object:
        if message == "fail":
            raise Boom("counted")
        return None


class Parent(Actor):
    """Spawns the child with the strategy it is sent; logs the child's Terminated."""

    def __init__(self, log: Log) -> None:
        self.log = log

    async def receive(self, message: object) -> object:
        match message:
            case SupervisorStrategy() as strategy:
                return await self.context.spawn(Child, self.log, supervisor=strategy)
            case Terminated():
                self.log.append("terminated")
        return None


async def fail_n_times(max_restarts: int, failures: int) -> Log:
    log = Log()
    async with ActorSystem("intensity") as system:
        parent = await system.spawn(Parent, log)
        strategy = OneForOne(max_restarts=max_restarts, within=60.0)
        child = await parent.ask(strategy)
        for _ in range(failures):
            child.tell("fail")
        if failures > max_restarts:
            await log.wait_for(lambda: log.count("terminated") > 0)
        else:
            await child.ask("sync")
    return log


@pytest.mark.parametrize("backend", BACKENDS)
@given(max_restarts=st.integers(0, 4), failures=st.integers(0, 7))
def test_quick_failures_stop_the_child_exactly_when_they_exceed_max_restarts(
    backend: str, max_restarts: int, failures: int
) -> None:
    log = anyio.run(fail_n_times, max_restarts, failures, backend=backend)
    assert log.count("start") == 1 + min(failures, max_restarts)
    assert log.count("terminated") == (1 if failures > max_restarts else 0)


class ManualClock:
    """A `Clock` that only moves on `advance_to`."""

    def __init__(self) -> None:
        self.time = 0.0
        self._changed = anyio.Event()

    def now(self) -> float:
        return self.time

    async def sleep_until(self, deadline: float) -> None:
        while self.time < deadline:
            await self._changed.wait()

    def advance_to(self, time: float) -> None:
        self.time = time
        self._changed.set()
        self._changed = anyio.Event()


async def fail_at_times(plan: FailureTimes) -> tuple[int, int | None]:
    """Fail the child at each planned time; return (starts, index of the stopping failure)."""
    log = Log()
    clock = ManualClock()
    stopping: int | None = None
    async with ActorSystem("intensity", clock=clock) as system:
        parent = await system.spawn(Parent, log)
        strategy = OneForOne(max_restarts=plan.max_restarts, within=plan.within)
        child = await parent.ask(strategy, timeout=None)
        for index, time in enumerate(plan.times):
            clock.advance_to(time)
            starts = log.count("start")
            child.tell("fail")
            # Either the child restarts (one more start) or it is stopped for good.
            await log.wait_for(log.restarted_or_stopped(since=starts))
            if log.count("terminated"):
                stopping = index
                break
    return log.count("start"), stopping


@pytest.mark.parametrize("backend", BACKENDS)
@given(plan=failure_times())
def test_restart_intensity_counts_only_restarts_inside_the_window(
    backend: str, plan: FailureTimes
) -> None:
    starts, stopping = anyio.run(fail_at_times, plan, backend=backend)
    expected = first_stopping_failure(plan)
    assert stopping == expected
    restarts = len(plan.times) if expected is None else expected
    assert starts == 1 + restarts
