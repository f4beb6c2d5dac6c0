"""Restart intensity (max_restarts within a window) and backoff delays between restarts.

Most tests drive time with `ManualClock`, a `Clock` whose time moves only when the
test says so and which reports the deadlines the runtime waits for: the backoff
delays are then observed exactly, and failures happen at chosen times.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import anyio
import pytest

from actorlib import (
    Actor,
    ActorRef,
    ActorSystem,
    Backoff,
    OneForOne,
    SupervisorStrategy,
    Terminated,
)
from tests.helpers import Probe as BaseProbe


class Boom(Exception):
    """A distinctive handler failure."""


class ManualClock:
    """A `Clock` that only moves on `advance_to`; it records what the runtime sleeps for."""

    def __init__(self) -> None:
        self.time = 0.0
        self.sleepers: list[float] = []
        self._changed = anyio.Event()

    def now(self) -> float:
        return self.time

    async def sleep_until(self, deadline: float) -> None:
        self.sleepers.append(deadline)
        self._notify()
        try:
            while self.time < deadline:
                await self._changed.wait()
        finally:
            self.sleepers.remove(deadline)
            self._notify()

    def advance_to(self, time: float) -> None:
        assert time >= self.time
        self.time = time
        self._notify()

    async def next_deadline(self) -> float:
        """Wait until the runtime sleeps towards a future deadline; return the earliest."""
        with anyio.fail_after(5):
            while True:
                pending = [d for d in self.sleepers if self.time < d < math.inf]
                if pending:
                    return min(pending)
                await self._changed.wait()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = anyio.Event()


class Probe(BaseProbe):
    """The shared probe, with this file's own queries."""

    def starts(self) -> list[float]:
        return [i[1] for i in self.items if isinstance(i, tuple) and i[0] == "start"]

    def more_starts_than(self, count: int) -> Callable[[list[object]], bool]:
        return lambda items: len(self.starts()) > count

    def terminated(self) -> list[Terminated]:
        return [i for i in self.items if isinstance(i, Terminated)]


class Failer(Actor):
    """Fails on ("fail", n) with Boom(n); reports each start with the time it happened."""

    def __init__(self, probe: Probe, now: Callable[[], float]) -> None:
        self.probe = probe
        self.now = now
        self.count = 0

    async def on_start(self) -> None:
        self.probe.put(("start", self.now()))

    async def receive(self, message: object) -> object:
        match message:
            case ("fail", n):
                raise Boom(n)
            case "incr":
                self.count += 1
            case "get":
                return self.count
        return None


class Parent(Actor):
    """Spawns one Failer child with a given strategy; reports the Terminated it receives."""

    def __init__(self, probe: Probe, now: Callable[[], float]) -> None:
        self.probe = probe
        self.now = now

    async def receive(self, message: object) -> object:
        match message:
            case SupervisorStrategy() as strategy:
                return await self.context.spawn(
                    Failer, self.probe, self.now, name="child", supervisor=strategy
                )
            case Terminated():
                self.probe.put(message)
        return None


async def spawn_child(
    system: ActorSystem, probe: Probe, now: Callable[[], float], strategy: SupervisorStrategy
) -> ActorRef[object]:
    parent = await system.spawn(Parent, probe, now)
    child = await parent.ask(strategy, timeout=None)
    assert isinstance(child, ActorRef)
    return child


async def fail_and_wait(child: ActorRef[object], probe: Probe, n: int) -> None:
    """Make the child fail once; return once it restarted (or was stopped)."""
    before = len(probe.starts())
    child.tell(("fail", n))
    await probe.wait_for(lambda items: len(probe.starts()) > before or bool(probe.terminated()))


@pytest.mark.anyio
async def test_the_third_failure_within_the_window_stops_a_child_with_max_restarts_2() -> None:
    async with ActorSystem("intensity") as system:
        probe = Probe()
        child = await spawn_child(
            system, probe, anyio.current_time, OneForOne(max_restarts=2, within=60.0)
        )
        for n in (1, 2, 3):
            child.tell(("fail", n))
        await probe.wait_for(lambda items: bool(probe.terminated()))
        [terminated] = probe.terminated()
        assert terminated.ref == child
        assert isinstance(terminated.error, Boom)
        assert terminated.error.args == (3,)
        assert len(probe.starts()) == 3  # the first instance and two restarts


@pytest.mark.anyio
async def test_max_restarts_0_stops_the_child_at_its_first_failure() -> None:
    async with ActorSystem("intensity") as system:
        probe = Probe()
        child = await spawn_child(system, probe, anyio.current_time, OneForOne(max_restarts=0))
        child.tell(("fail", 1))
        await probe.wait_for(lambda items: bool(probe.terminated()))
        assert len(probe.starts()) == 1
        [terminated] = probe.terminated()
        assert isinstance(terminated.error, Boom)


@pytest.mark.anyio
async def test_max_restarts_none_restarts_without_limit() -> None:
    async with ActorSystem("intensity") as system:
        probe = Probe()
        child = await spawn_child(
            system, probe, anyio.current_time, OneForOne(max_restarts=None, within=60.0)
        )
        for n in range(25):
            child.tell(("fail", n))
        child.tell("incr")
        assert await child.ask("get") == 1
        assert len(probe.starts()) == 26
        assert probe.terminated() == []


@pytest.mark.anyio
async def test_failures_older_than_the_window_do_not_count() -> None:
    clock = ManualClock()
    async with ActorSystem("intensity", clock=clock) as system:
        probe = Probe()
        child = await spawn_child(system, probe, clock.now, OneForOne(max_restarts=2, within=10.0))
        for n, at in enumerate([0.0, 1.0, 11.5, 12.0], start=1):
            clock.advance_to(at)
            await fail_and_wait(child, probe, n)
        # Restarts at 0 and 1 left the window; those at 11.5 and 12 fill it again.
        assert probe.terminated() == []
        assert probe.starts() == [0.0, 0.0, 1.0, 11.5, 12.0]
        clock.advance_to(12.5)
        await fail_and_wait(child, probe, 5)
        [terminated] = probe.terminated()
        assert isinstance(terminated.error, Boom)
        assert terminated.error.args == (5,)


@pytest.mark.anyio
async def test_backoff_delays_start_at_min_grow_by_factor_and_cap_at_max() -> None:
    clock = ManualClock()
    async with ActorSystem("backoff", clock=clock) as system:
        probe = Probe()
        strategy = OneForOne(max_restarts=None, backoff=Backoff(min=1.0, max=10.0, factor=3.0))
        child = await spawn_child(system, probe, clock.now, strategy)
        for n in range(5):
            child.tell(("fail", n))
        delays = []
        for _ in range(5):
            deadline = await clock.next_deadline()
            delays.append(deadline - clock.now())
            clock.advance_to(deadline)
        assert delays == pytest.approx([1.0, 3.0, 9.0, 10.0, 10.0])
        assert await child.ask("get", timeout=None) == 0
        assert probe.starts() == pytest.approx([0.0, 1.0, 4.0, 13.0, 23.0, 33.0])


@pytest.mark.anyio
async def test_backoff_starts_again_from_min_after_a_quiet_period() -> None:
    clock = ManualClock()
    async with ActorSystem("backoff", clock=clock) as system:
        probe = Probe()
        backoff = Backoff(min=1.0, max=8.0, factor=2.0, reset_after=5.0)
        child = await spawn_child(
            system, probe, clock.now, OneForOne(max_restarts=None, backoff=backoff)
        )
        delays = []
        # Quiet gaps before each failure: none, none, 3 (< reset_after), 6 (> reset_after).
        for n, quiet in enumerate([0.0, 0.0, 3.0, 6.0]):
            clock.advance_to(clock.now() + quiet)
            before = len(probe.starts())
            child.tell(("fail", n))
            deadline = await clock.next_deadline()
            delays.append(deadline - clock.now())
            clock.advance_to(deadline)
            await probe.wait_for(probe.more_starts_than(before))
        assert delays == pytest.approx([1.0, 2.0, 4.0, 1.0])


@pytest.mark.anyio
async def test_a_restart_waits_for_its_backoff_before_handling_queued_messages() -> None:
    clock = ManualClock()
    async with ActorSystem("backoff", clock=clock) as system:
        probe = Probe()
        strategy = OneForOne(backoff=Backoff(min=2.0, max=2.0))
        child = await spawn_child(system, probe, clock.now, strategy)
        child.tell(("fail", 1))
        child.tell("incr")
        replies: list[object] = []

        async def ask_count() -> None:
            replies.append(await child.ask("get", timeout=None))

        async with anyio.create_task_group() as tg:
            tg.start_soon(ask_count)
            deadline = await clock.next_deadline()
            await anyio.wait_all_tasks_blocked()
            assert replies == []  # still backing off
            assert len(probe.starts()) == 1
            assert deadline == pytest.approx(2.0)
            clock.advance_to(deadline)
        # The queued messages went to the new instance once the delay was over.
        assert replies == [1]
        assert probe.starts() == [0.0, 2.0]


@pytest.mark.anyio
async def test_backoff_delays_restarts_on_the_real_clock() -> None:
    async with ActorSystem("backoff") as system:
        probe = Probe()
        strategy = OneForOne(max_restarts=None, backoff=Backoff(min=0.05, max=0.05))
        child = await spawn_child(system, probe, anyio.current_time, strategy)
        child.tell(("fail", 1))
        child.tell(("fail", 2))
        assert await child.ask("get") == 0
        first, second, third = probe.starts()
        assert second - first >= 0.045
        assert third - second >= 0.045


@pytest.mark.anyio
async def test_backoff_jitter_spreads_delays_within_the_fraction() -> None:
    clock = ManualClock()
    async with ActorSystem("backoff", clock=clock) as system:
        probe = Probe()
        backoff = Backoff(min=2.0, max=2.0, jitter=0.5)
        child = await spawn_child(
            system, probe, clock.now, OneForOne(max_restarts=None, backoff=backoff)
        )
        for n in range(12):
            child.tell(("fail", n))
        delays = []
        for _ in range(12):
            deadline = await clock.next_deadline()
            delays.append(deadline - clock.now())
            clock.advance_to(deadline)
        assert all(1.0 - 1e-9 <= delay <= 3.0 + 1e-9 for delay in delays)
        assert len(set(delays)) > 1


@pytest.mark.anyio
async def test_stopping_an_actor_during_its_backoff_does_not_wait_for_the_delay() -> None:
    clock = ManualClock()
    async with ActorSystem("backoff", clock=clock) as system:
        probe = Probe()
        strategy = OneForOne(backoff=Backoff(min=100.0, max=100.0))
        child = await spawn_child(system, probe, clock.now, strategy)
        child.tell(("fail", 1))
        await clock.next_deadline()  # the restart is waiting for the delay
        with anyio.fail_after(5):
            await system.stop(child)
        await probe.wait_for(lambda items: bool(probe.terminated()))
        assert clock.now() == 0.0
        assert len(probe.starts()) == 1
