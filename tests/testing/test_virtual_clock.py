"""VirtualClock: timers, ask timeouts and restart backoff fire in deadline order, instantly."""

from __future__ import annotations

import random
from typing import Any

import anyio
import pytest

from actorlib import Actor, ActorSystem, AskTimeout, Backoff, OneForOne
from actorlib.testing import VirtualClock

HOUR = 3600.0


class Sink(Actor):
    """Stashes every message, so an ask of it is never answered."""

    async def receive(self, message: object) -> object:
        self.context.stash()
        return None


class Ticker(Actor):
    """A periodic timer every hour; counts the ticks with their virtual times."""

    def __init__(self, clock: VirtualClock, ticks: list[float]) -> None:
        self.clock = clock
        self.ticks = ticks

    async def on_start(self) -> None:
        self.context.timers.start_periodic("tick", "tick", HOUR)

    async def receive(self, message: object) -> object:
        self.ticks.append(self.clock.now())
        return None


class Fragile(Actor):
    """Records each start; fails on "fail" (the parent restarts it after a backoff)."""

    def __init__(self, clock: VirtualClock, starts: list[float]) -> None:
        self.clock = clock
        self.starts = starts

    async def on_start(self) -> None:
        self.starts.append(self.clock.now())

    async def receive(self, message: object) -> object:
        if message == "fail":
            raise ValueError("fragile failed on purpose")
        return message


class OneShot(Actor):
    """Starts one single timer and logs (virtual time, what) when it fires."""

    def __init__(self, clock: VirtualClock, log: list[tuple[float, str]], delay: float) -> None:
        self.clock = clock
        self.log = log
        self.delay = delay

    async def on_start(self) -> None:
        self.context.timers.start_single("once", "timer", self.delay)

    async def receive(self, message: object) -> object:
        self.log.append((self.clock.now(), str(message)))
        return None


class Alarm(Actor):
    """Starts a single timer per (key, delay), in the given order; logs each firing."""

    def __init__(
        self, clock: VirtualClock, delays: list[float], log: list[tuple[float, str, float]]
    ) -> None:
        self.clock = clock
        self.delays = delays
        self.log = log

    async def on_start(self) -> None:
        for key, delay in enumerate(self.delays):
            self.context.timers.start_single(key, delay, delay)

    async def receive(self, message: object) -> object:
        assert isinstance(message, float)
        self.log.append((self.clock.now(), self.ref.name, message))
        return None


def backoff_strategy(minutes: float) -> OneForOne:
    return OneForOne(max_restarts=None, backoff=Backoff(min=minutes * 60, max=minutes * 600))


async def ask_and_log(
    ref: Any, clock: VirtualClock, log: list[tuple[float, str]], timeout: float
) -> None:
    try:
        await ref.ask("anyone?", timeout=timeout)
    except AskTimeout:
        log.append((clock.now(), "ask timeout"))


@pytest.mark.anyio
async def test_time_stands_still_until_the_test_advances_it() -> None:
    clock = VirtualClock(start=100.0)
    assert clock.now() == 100.0
    await clock.advance(2.5)
    assert clock.now() == 102.5
    assert repr(clock) == "VirtualClock(now=102.5)"


@pytest.mark.anyio
async def test_advancing_by_a_negative_time_is_refused() -> None:
    clock = VirtualClock()
    with pytest.raises(ValueError, match=r"^seconds must be a non-negative number of seconds"):
        await clock.advance(-1)


@pytest.mark.anyio
async def test_an_hourly_timer_an_ask_timeout_and_a_backoff_of_minutes_take_milliseconds() -> None:
    clock = VirtualClock()
    ticks: list[float] = []
    starts: list[float] = []
    timeouts: list[tuple[float, str]] = []
    # Over three hours of virtual time: had anything slept for real, the
    # generous real-time guard would stop it (speed itself is a benchmark).
    with anyio.fail_after(60):
        await _an_hour_a_timeout_and_a_backoff(clock, ticks, starts, timeouts)


async def _an_hour_a_timeout_and_a_backoff(
    clock: VirtualClock,
    ticks: list[float],
    starts: list[float],
    timeouts: list[tuple[float, str]],
) -> None:
    async with ActorSystem("virtual", clock=clock) as system:
        await system.spawn(Ticker, clock, ticks)
        sink = await system.spawn(Sink)
        fragile = await system.spawn(Fragile, clock, starts, supervisor=backoff_strategy(5))
        async with anyio.create_task_group() as tg:
            tg.start_soon(ask_and_log, sink, clock, timeouts, 30.0)
            fragile.tell("fail")
            await clock.advance(29.0)
            assert timeouts == []
            await clock.advance(1.0)
            assert timeouts == [(30.0, "ask timeout")]
        await clock.advance(5 * 60 - 31.0)
        assert starts == [0.0]  # the restart waits for its backoff of 5 minutes
        await clock.advance(1.0)
        assert starts == [0.0, 300.0]
        await clock.advance(3 * HOUR)
        assert ticks == [HOUR, 2 * HOUR, 3 * HOUR]
        assert await fragile.ask("still here?") == "still here?"


@pytest.mark.anyio
async def test_timers_ask_timeouts_and_backoff_fire_in_deadline_order_in_one_advance() -> None:
    clock = VirtualClock()
    log: list[tuple[float, str]] = []
    starts: list[float] = []
    async with ActorSystem("virtual", clock=clock) as system:
        await system.spawn(OneShot, clock, log, 40.0)
        await system.spawn(OneShot, clock, log, 10.0)
        sink = await system.spawn(Sink)
        fragile = await system.spawn(Fragile, clock, starts, supervisor=backoff_strategy(0.25))
        async with anyio.create_task_group() as tg:
            tg.start_soon(ask_and_log, sink, clock, log, 20.0)
            fragile.tell("fail")
            await clock.advance(60.0)
        log.extend((at, "restart") for at in starts[1:])
        assert sorted(log) == [
            (10.0, "timer"),
            (15.0, "restart"),
            (20.0, "ask timeout"),
            (40.0, "timer"),
        ]
        assert [at for at, _ in log if _ != "restart"] == [10.0, 20.0, 40.0]
        assert clock.now() == 60.0


@pytest.mark.anyio
async def test_ten_thousand_timers_across_a_hundred_actors_fire_in_deadline_order() -> None:
    clock = VirtualClock()
    rng = random.Random(2024)
    # Distinct deadlines over ten virtual hours: real sleeping could never
    # finish under the real-time guard below (speed itself is a benchmark).
    delays = [HOUR * (1.0 + k / 1000) for k in range(10_000)]
    rng.shuffle(delays)  # each actor starts its timers out of deadline order
    log: list[tuple[float, str, float]] = []
    async with ActorSystem("virtual", clock=clock) as system:
        for index in range(100):
            mine = delays[index * 100 : (index + 1) * 100]
            await system.spawn(Alarm, clock, mine, log, name=f"alarm-{index}")
        with anyio.fail_after(60):
            await clock.advance(11 * HOUR)
    assert len(log) == 10_000
    fired_at = [at for at, _, _ in log]
    assert fired_at == sorted(fired_at)
    assert all(at == delay for at, _, delay in log)  # each at its own deadline
    for index in range(100):
        mine = [delay for _, name, delay in log if name == f"alarm-{index}"]
        assert mine == sorted(delays[index * 100 : (index + 1) * 100])


@pytest.mark.anyio
async def test_a_timer_is_not_fired_before_its_deadline() -> None:
    clock = VirtualClock()
    log: list[tuple[float, str]] = []
    async with ActorSystem("virtual", clock=clock) as system:
        await system.spawn(OneShot, clock, log, 10.0)
        await clock.advance(9.999)
        assert log == []
        await clock.advance(0.001)
        assert log == [(10.0, "timer")]
