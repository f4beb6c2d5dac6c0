"""System messages and timer firings as scheduled events: what is held, what order holds.

Held system messages show in the trace as ``system`` steps; the runtime's order
promises hold under every schedule hypothesis tries: a message never overtakes a
system message its sender sent the same recipient earlier, what an actor sends
itself takes effect before its next message, an actor's timers fire in deadline
order, and a timer fired early never moves time past the end of an ``advance``.
"""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from hypothesis import given, settings

from actorlib import Actor, ActorRef, Terminated
from actorlib.testing import Schedule, SimulatedSystem, schedules

BACKENDS = ("asyncio", "trio")


class Log(Actor):
    """Logs every message it handles (and its Terminated notices) as (name, message)."""

    def __init__(self, log: list[tuple[str, object]]) -> None:
        self.log = log

    async def receive(self, message: object) -> object:
        if isinstance(message, Terminated):
            message = ("terminated", message.ref.name)
        self.log.append((self.ref.name, message))
        return None


class Boss(Actor):
    """Spawns a worker; on "fire", tells it a message, stops it, tells it another."""

    def __init__(self, log: list[tuple[str, object]]) -> None:
        self.log = log

    async def on_start(self) -> None:
        self.worker = await self.context.spawn(Log, self.log, name="worker")

    async def receive(self, message: object) -> object:
        if message == "fire":
            self.worker.tell("before the stop")
            self.context.stop(self.worker)
            self.worker.tell("after the stop")
        return None


class Quitter(Actor):
    """Logs each message; on "quit" it stops itself."""

    def __init__(self, log: list[object]) -> None:
        self.log = log

    async def receive(self, message: object) -> object:
        self.log.append(message)
        if message == "quit":
            self.context.stop()
        return None


class Watcher(Actor):
    """Watches, then unwatches, the actor it is given; logs what it handles."""

    def __init__(self, log: list[tuple[str, object]]) -> None:
        self.log = log

    async def receive(self, message: object) -> object:
        match message:
            case ("watch", ActorRef() as ref):
                self.context.watch(ref)
            case ("unwatch", ActorRef() as ref):
                self.context.unwatch(ref)
            case Terminated(ref=ref):
                self.log.append(("terminated", ref.name))
        return None


class Alarms(Actor):
    """Starts three single timers at 3, 1 and 2 s; logs them and the time they are handled."""

    def __init__(self, log: list[tuple[object, float]], peer: ActorRef[Any]) -> None:
        self.log = log
        self.peer = peer

    async def on_start(self) -> None:
        for delay in (3.0, 1.0, 2.0):
            self.context.timers.start_single(delay, f"alarm {delay:g}", delay)

    async def receive(self, message: object) -> object:
        self.log.append((message, self.context.system.clock.now()))
        self.peer.tell(message)  # keeps messages in flight for the timers to race
        return None


@pytest.mark.anyio
async def test_held_system_messages_show_in_the_trace_by_name() -> None:
    log: list[tuple[str, object]] = []
    async with SimulatedSystem() as system:
        worker = await system.spawn(Log, log, name="worker")
        watcher = await system.spawn(Watcher, log, name="watcher")
        for step in ("watch", "unwatch", "watch"):
            watcher.tell((step, worker))
            await system.settle()
        await system.stop(worker)
        await system.settle()
    lines = [str(step).split(". ", 1)[1] for step in system.trace if step.kind == "system"]
    assert lines == [
        "/user/watcher -> /user/worker: system Watch(/user/watcher)",
        "/user/watcher -> /user/worker: system Unwatch(/user/watcher)",
        "/user/watcher -> /user/worker: system Watch(/user/watcher)",
        "test -> /user/worker: system Stop",
        "/user/worker -> /user/watcher: system Terminated(/user/worker)",
        "/user/worker -> /user: system ChildTerminated(/user/worker)",
    ]
    assert log == [("terminated", "worker")]


@pytest.mark.anyio
async def test_shutdown_stops_the_actors_at_once_and_out_of_the_trace() -> None:
    async with SimulatedSystem() as system:
        await system.spawn(Log, [], name="a")
        await system.spawn(Log, [], name="b")
    assert list(system.trace) == []


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_message_never_overtakes_a_stop_its_sender_sent_first(backend: str) -> None:
    async def run(schedule: Schedule) -> list[tuple[str, object]]:
        log: list[tuple[str, object]] = []
        async with SimulatedSystem(schedule=schedule) as system:
            boss = await system.spawn(Boss, log, name="boss")
            boss.tell("fire")
            await system.settle()
        return log

    @settings(database=None, deadline=None, max_examples=60)
    @given(schedule=schedules())
    def prop(schedule: Schedule) -> None:
        log = anyio.run(run, schedule, backend=backend)
        assert ("worker", "after the stop") not in log, log

    prop()


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_actor_that_stops_itself_handles_no_further_message(backend: str) -> None:
    async def run(schedule: Schedule) -> list[object]:
        log: list[object] = []
        async with SimulatedSystem(schedule=schedule) as system:
            quitter = await system.spawn(Quitter, log, name="quitter")
            for message in ("one", "quit", "two", "three"):
                quitter.tell(message)
            await system.settle()
        return log

    @settings(database=None, deadline=None, max_examples=40)
    @given(schedule=schedules())
    def prop(schedule: Schedule) -> None:
        assert anyio.run(run, schedule, backend=backend) == ["one", "quit"]

    prop()


@pytest.mark.parametrize("backend", BACKENDS)
def test_timers_fire_in_deadline_order_and_never_past_the_end_of_advance(backend: str) -> None:
    async def run(schedule: Schedule) -> tuple[list[tuple[object, float]], float]:
        log: list[tuple[object, float]] = []
        async with SimulatedSystem(schedule=schedule) as system:
            sink = await system.spawn(Log, [], name="sink")
            await system.spawn(Alarms, log, sink, name="alarms")
            await system.virtual_clock.advance(2.5)
            return log, system.clock.now()

    @settings(database=None, deadline=None, max_examples=60)
    @given(schedule=schedules())
    def prop(schedule: Schedule) -> None:
        log, now = anyio.run(run, schedule, backend=backend)
        # In deadline order, none before its time (a message in flight may be
        # late: the next timer may fire first), none past the end of advance.
        assert [alarm for alarm, _ in log] == ["alarm 1", "alarm 2"]
        assert log[0][1] >= 1.0
        assert log[1][1] == 2.0
        assert now == 2.5

    prop()


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_timer_fires_ahead_of_a_message_in_flight_only_when_the_schedule_chooses(
    backend: str,
) -> None:
    async def run(schedule: Schedule) -> list[tuple[str, object]]:
        log: list[tuple[str, object]] = []
        async with SimulatedSystem(schedule=schedule) as system:
            sink = await system.spawn(Log, log, name="sink")
            alarms = await system.spawn(Alarms, [], sink, name="alarms")
            await system.settle()
            sink.tell("from test")
            alarms.tell("poke")  # a message in flight: the 1 s timer may race it
            await system.settle()
        return log

    assert anyio.run(run, Schedule.fifo(), backend=backend) == [
        ("sink", "from test"),
        ("sink", "poke"),
    ]
    # Two messages in flight, then the timer: choice 2 fires it first (time moves to
    # 1 s), and the alarm it sets off reaches the sink before "poke" does.
    assert anyio.run(run, Schedule.replay([2]), backend=backend) == [
        ("sink", "from test"),
        ("sink", "alarm 1"),
        ("sink", "poke"),
    ]
