"""Timeouts, sleeps and idle timers on a system's Clock seam (what remote and cluster use).

On a `VirtualClock` they expire when virtual time reaches them and never
sooner; without a system they fall back to the event loop's clock.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio
import pytest

from actorlib import ActorSystem
from actorlib._clock import IdleTimer, fail_after, move_on_after, sleep
from actorlib.testing import VirtualClock

pytestmark = pytest.mark.anyio


async def test_fail_after_raises_when_virtual_time_reaches_the_timeout_and_no_sooner() -> None:
    clock = VirtualClock()
    async with ActorSystem(clock=clock) as system:
        timers = system.timer_queue
        outcome: list[float] = []

        async def wait() -> None:
            with pytest.raises(TimeoutError), fail_after(timers, 2.0):
                await anyio.sleep_forever()
            outcome.append(clock.now())

        async with anyio.create_task_group() as group:
            group.start_soon(wait)
            await clock.advance(1.9)
            assert outcome == []
            await clock.advance(0.2)
        assert outcome == [2.0]
        assert len(timers) == 0


async def test_a_block_done_in_time_leaves_no_timer_and_raises_nothing() -> None:
    clock = VirtualClock()
    async with ActorSystem(clock=clock) as system:
        timers = system.timer_queue
        with fail_after(timers, 1.0), move_on_after(timers, 1.0) as scope:
            await sleep(clock, 0)
        assert not scope.cancelled_caught
        assert len(timers) == 0
        with move_on_after(timers, None):  # no timeout at all
            assert len(timers) == 0


async def test_without_a_system_the_event_loop_clock_stands_in() -> None:
    with move_on_after(None, 0.01) as scope:
        await anyio.sleep_forever()
    assert scope.cancelled_caught
    with pytest.raises(TimeoutError), fail_after(None, 0.01):
        await anyio.sleep_forever()


async def test_an_idle_timer_fires_after_its_interval_without_activity_and_not_while_active() -> (
    None
):
    clock = VirtualClock()
    async with ActorSystem(clock=clock) as system:
        idle: list[float] = []
        timer = IdleTimer(system.timer_queue, 1.0, lambda: idle.append(clock.now()))
        for _ in range(5):  # activity every half interval: never idle
            await clock.advance(0.5)
            timer.last = clock.now()
        assert idle == []
        await clock.advance(3.0)  # idle since 2.5: at 3.5, then every interval
        assert idle == [3.5, 4.5, 5.5]
        timer.cancel()
        await clock.advance(5.0)
        assert idle == [3.5, 4.5, 5.5]
        assert len(system.timer_queue) == 0


class _Timers:
    """A timer queue driven by hand: the test runs each check at the time it picks."""

    def __init__(self) -> None:
        self.clock = self
        self.time = 0.0
        self.armed: list[tuple[float, Callable[[], None]]] = []

    def now(self) -> float:
        return self.time

    def call_at(self, deadline: float, callback: Callable[[], None]) -> Any:
        self.armed.append((deadline, callback))
        return _Handle()

    def run_next_at(self, time: float) -> float:
        """Run the last armed check at *time*; return the deadline it had."""
        deadline, callback = self.armed.pop()
        self.time = time
        callback()
        return deadline


class _Handle:
    def cancel(self) -> None:
        pass


def test_an_idle_timer_does_not_count_a_stall_of_its_own_process_as_silence() -> None:
    timers = _Timers()
    idle: list[float] = []
    timer = IdleTimer(timers, 0.8, lambda: idle.append(timers.time), stall_grace=0.2)  # type: ignore[arg-type]
    assert timers.run_next_at(1.3) == 0.8  # 0.5 s late: this process was stalled
    assert idle == []
    timer.last = 1.25  # a frame that arrived during the stall is read
    assert timers.run_next_at(1.5) == 1.5  # one grace later: not idle
    assert idle == []
    assert timers.run_next_at(2.05) == 2.05  # checked on time, nothing heard: idle
    assert idle == [2.05]


def test_an_idle_timer_checked_late_without_a_stall_grace_fires_at_once() -> None:
    timers = _Timers()
    idle: list[float] = []
    IdleTimer(timers, 0.8, lambda: idle.append(timers.time))  # type: ignore[arg-type]
    timers.run_next_at(1.3)
    assert idle == [1.3]


def test_an_idle_timer_fires_when_still_silent_after_its_stall_grace() -> None:
    timers = _Timers()
    idle: list[float] = []
    IdleTimer(timers, 0.8, lambda: idle.append(timers.time), stall_grace=0.2)  # type: ignore[arg-type]
    timers.run_next_at(1.3)
    assert timers.run_next_at(1.5) == 1.5
    assert idle == [1.5]
