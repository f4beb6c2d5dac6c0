"""Traces recorded before system messages and timers were scheduled still replay the same.

The traces below were recorded with actorlib before that change (``Schedule.random(0)``
and ``Schedule.random(1)``). The first involves no system message and no timer; the
second has periodic timers, fired by `VirtualClock.advance`. Neither sends a system
message before shutdown, so each replay must deliver exactly the same messages in the
same order: the new candidates (held system messages first, the next timer last) only
ever join a step that had none of them before, at the end, so a recorded choice picks
what it picked then.
"""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from actorlib import Actor, ActorRef
from actorlib.testing import Schedule, SimulatedSystem

BACKENDS = ("asyncio", "trio")

RECORDED_REPLAY = [1, 1, 0, 2, 3, 3, 1, 1, 1]
RECORDED_TRACE = """\
  1. test -> /user/b: tell 10
  2. test -> /user/c: tell 100
  3. test -> /user/a: tell 1
  4. test -> /user/c: tell 300
  5. /user/a -> /user/b: tell 2
  6. /user/b -> /user/c: tell 3
  7. test -> /user/b: tell 30
  8. test -> /user/b: tell 50
  9. test -> /user/c: tell 500
 10. test -> /user/a: tell 3
 11. test -> /user/a: tell 5
 12. /user/a -> /user/b: tell 4
 13. /user/a -> /user/b: tell 6
 14. /user/b -> /user/c: tell 5
 15. test -> /user/c: ask 'log'
 16. /user/c -> test: reply ['b:10', 'c:100', 'a:1', 'c:300', 'b:2', 'c:3', 'b:30', 'b:50', \
'c:500', 'a:3', 'a:5', 'b:4', 'b:6', 'c:5']"""


RECORDED_TIMER_REPLAY = [1, 0, 0, 1, 1, 0, 1, 1]
RECORDED_TIMER_TRACE = """\
  1. test -> /user/b: tell 'y'
  2. test -> /user/a: tell 'x'
  3. test -> /user/a: tell 'z'
  4. timer -> /user/a: timer 'tick'
  5. /user/a -> /user/b: tell ('ticked', 1)
  6. timer -> /user/b: timer 'tick'
  7. timer -> /user/a: timer 'tick'
  8. /user/a -> /user/b: tell ('ticked', 2)
  9. timer -> /user/b: timer 'tick'
 10. timer -> /user/b: timer 'tick'
 11. timer -> /user/a: timer 'tick'
 12. /user/a -> /user/b: tell ('ticked', 3)
 13. test -> /user/a: ask 'ticks'
 14. /user/a -> test: reply 3"""


class Relay(Actor):
    """Logs each number; passes it on to the next relay while it is below 6."""

    def __init__(self, log: list[str], after: ActorRef[Any] | None) -> None:
        self.log = log
        self.after = after

    async def receive(self, message: object) -> object:
        if message == "log":
            return list(self.log)
        assert isinstance(message, int)
        self.log.append(f"{self.ref.name}:{message}")
        if self.after is not None and message < 6:
            self.after.tell(message + 1)
        return None


async def relay_run(schedule: Schedule) -> tuple[str, str]:
    """The recorded scenario: three relays in a row, nine tells, then an ask."""
    log: list[str] = []
    async with SimulatedSystem("compat", schedule=schedule) as system:
        c = await system.spawn(Relay, log, None, name="c")
        b = await system.spawn(Relay, log, c, name="b")
        a = await system.spawn(Relay, log, b, name="a")
        for n in (1, 3, 5):
            a.tell(n)
            b.tell(n * 10)
            c.tell(n * 100)
        await system.settle()
        await c.ask("log")
    return str(system.trace), system.schedule.replay_code()


class Ticker(Actor):
    """Ticks every second and tells its peer how many ticks it has seen."""

    def __init__(self, peer: ActorRef[Any] | None) -> None:
        self.peer = peer
        self.ticks = 0

    async def on_start(self) -> None:
        self.context.timers.start_periodic("tick", "tick", 1.0)

    async def receive(self, message: object) -> object:
        if message == "tick":
            self.ticks += 1
            if self.peer is not None:
                self.peer.tell(("ticked", self.ticks))
        elif message == "ticks":
            return self.ticks
        return None


async def ticker_run(schedule: Schedule) -> tuple[str, str]:
    """The recorded scenario with timers: two tickers, three tells, 3.5 s, an ask."""
    async with SimulatedSystem("timers", schedule=schedule) as system:
        b = await system.spawn(Ticker, None, name="b")
        a = await system.spawn(Ticker, b, name="a")
        a.tell("x")
        b.tell("y")
        a.tell("z")
        await system.virtual_clock.advance(3.5)
        await a.ask("ticks")
    return str(system.trace), system.schedule.replay_code()


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_trace_recorded_before_system_events_were_scheduled_replays_identically(
    backend: str,
) -> None:
    trace, replay = anyio.run(relay_run, Schedule.replay(RECORDED_REPLAY), backend=backend)
    assert trace == RECORDED_TRACE
    assert replay == f"Schedule.replay({RECORDED_REPLAY})"


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_recorded_trace_was_not_the_natural_order(backend: str) -> None:
    # Otherwise the replay above would prove nothing about the choices.
    trace, _ = anyio.run(relay_run, Schedule.fifo(), backend=backend)
    assert trace != RECORDED_TRACE


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_trace_with_timers_recorded_before_timers_were_scheduled_replays_identically(
    backend: str,
) -> None:
    trace, replay = anyio.run(ticker_run, Schedule.replay(RECORDED_TIMER_REPLAY), backend=backend)
    assert trace == RECORDED_TIMER_TRACE
    assert replay == f"Schedule.replay({RECORDED_TIMER_REPLAY})"
