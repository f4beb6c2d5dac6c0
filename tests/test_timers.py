"""Per-actor keyed timers: single, periodic, cancel, replace by key, cancelled on restart and stop.

Timers are the feature under test here, so short real delays (10-60 ms) are allowed. Absence
of a delivery is proven without sleeping: a later "sentinel" timer arrives first otherwise.
"""

from __future__ import annotations

import itertools
import math

import anyio
import pytest

from actorlib import Actor, ActorSystem, DeadLetter
from tests.helpers import Probe

_instances = itertools.count(1)


class Boom(Exception):
    """A distinctive handler failure."""


class Ticker(Actor):
    """Starts, cancels and inspects its timers on request; reports every other message."""

    def __init__(self, probe: Probe) -> None:
        self.probe = probe

    async def receive(self, message: object) -> object:
        timers = self.context.timers
        match message:
            case list(commands):
                # Several commands in one handler: no timer can fire in between.
                for command in commands:
                    await self.receive(command)
            case ("single", key, payload, float(delay)):
                timers.start_single(key, payload, delay)
            case ("periodic", key, payload, float(interval)):
                timers.start_periodic(key, payload, interval)
            case ("cancel", key):
                timers.cancel(key)
                self.probe.put(("cancelled", key))
            case "cancel_all":
                timers.cancel_all()
            case ("active", key):
                return timers.is_active(key)
            case ("fire_then_cancel_while_busy", key):
                # The timer fires while this handler is busy, so its message is queued
                # behind this one; cancelling must still keep it from being delivered.
                timers.start_single(key, "stale", 0.0)
                await anyio.sleep(0.03)
                timers.cancel(key)
            case ("cancel_after", key, int(ticks)):
                self.cancel_after = (key, ticks)
            case "fail":
                raise Boom("restart me")
            case "stop_self":
                self.context.stop()
            case _:
                self.probe.put(message)
                cancel_after = getattr(self, "cancel_after", None)
                if cancel_after is not None and self.probe.count(message) == cancel_after[1]:
                    timers.cancel(cancel_after[0])
                    self.probe.put(("cancelled", cancel_after[0]))
        return None


class Heartbeat(Actor):
    """Starts a periodic timer in on_start carrying its instance number."""

    def __init__(self, probe: Probe) -> None:
        self.probe = probe
        self.instance = next(_instances)

    async def on_start(self) -> None:
        self.probe.put(("start", self.instance))
        self.context.timers.start_periodic("beat", ("beat", self.instance), 0.01)

    async def receive(self, message: object) -> object:
        if message == "fail":
            raise Boom("restart me")
        self.probe.put(message)
        return None


@pytest.mark.anyio
async def test_a_single_timer_delivers_once_after_its_delay() -> None:
    async with ActorSystem("timers") as system:
        probe = Probe()
        ref = await system.spawn(Ticker, probe)
        started = anyio.current_time()
        await ref.ask(("single", "t", "tick", 0.02))
        assert await ref.ask(("active", "t")) is True
        await probe.wait_for(lambda items: "tick" in items)
        assert anyio.current_time() - started >= 0.015
        await ref.ask(("single", "sentinel", "sentinel", 0.03))
        await probe.wait_for(lambda items: "sentinel" in items)
        assert probe.count("tick") == 1
        assert await ref.ask(("active", "t")) is False


@pytest.mark.anyio
async def test_a_periodic_timer_repeats_until_cancelled() -> None:
    async with ActorSystem("timers") as system:
        probe = Probe()
        ref = await system.spawn(Ticker, probe)
        await ref.ask(("cancel_after", "p", 3))
        await ref.ask(("periodic", "p", "tick", 0.01))
        await probe.wait_for(lambda items: ("cancelled", "p") in items)
        assert await ref.ask(("active", "p")) is False
        await ref.ask(("single", "sentinel", "sentinel", 0.06))
        await probe.wait_for(lambda items: "sentinel" in items)
        # Cancelled from the handler of the third tick: no tick after that, not even one
        # that had already fired and was waiting in the mailbox.
        assert probe.count("tick") == 3
        assert probe.items.index(("cancelled", "p")) == 3


@pytest.mark.anyio
async def test_a_cancelled_timer_never_delivers() -> None:
    async with ActorSystem("timers") as system:
        probe = Probe()
        ref = await system.spawn(Ticker, probe)
        await ref.ask([("single", "t", "tick", 0.02), ("cancel", "t")])
        assert await ref.ask(("active", "t")) is False
        await ref.ask(("single", "sentinel", "sentinel", 0.05))
        await probe.wait_for(lambda items: "sentinel" in items)
        assert "tick" not in probe.items


@pytest.mark.anyio
async def test_a_timer_cancelled_after_it_fired_but_before_delivery_never_delivers() -> None:
    async with ActorSystem("timers") as system:
        probe = Probe()
        ref = await system.spawn(Ticker, probe)
        await ref.ask(("fire_then_cancel_while_busy", "t"))
        ref.tell("after")
        await probe.wait_for(lambda items: "after" in items)
        assert "stale" not in probe.items


@pytest.mark.anyio
async def test_starting_a_timer_with_a_key_in_use_replaces_it() -> None:
    async with ActorSystem("timers") as system:
        probe = Probe()
        ref = await system.spawn(Ticker, probe)
        await ref.ask(
            [
                ("single", "k", "first", 0.01),
                ("single", "k", "second", 0.02),
                ("periodic", "p", "periodic", 0.01),
                ("single", "p", "single", 0.02),
                ("single", "sentinel", "sentinel", 0.06),
            ]
        )
        await probe.wait_for(lambda items: "sentinel" in items)
        assert "first" not in probe.items
        assert probe.count("second") == 1
        assert "periodic" not in probe.items
        assert probe.count("single") == 1


@pytest.mark.anyio
async def test_cancel_all_cancels_every_timer_of_the_actor() -> None:
    async with ActorSystem("timers") as system:
        probe = Probe()
        ref = await system.spawn(Ticker, probe)
        other = await system.spawn(Ticker, probe)
        await ref.ask([("single", "a", "a", 0.01), ("periodic", "b", "b", 0.01), "cancel_all"])
        assert await ref.ask(("active", "a")) is False
        assert await ref.ask(("active", "b")) is False
        await other.ask(("single", "sentinel", "sentinel", 0.05))
        await probe.wait_for(lambda items: "sentinel" in items)
        assert probe.items == ["sentinel"]


@pytest.mark.anyio
async def test_timers_of_different_actors_with_the_same_key_are_independent() -> None:
    async with ActorSystem("timers") as system:
        probe = Probe()
        first = await system.spawn(Ticker, probe)
        second = await system.spawn(Ticker, probe)
        await first.ask(("single", "t", "from first", 0.01))
        await second.ask(("single", "t", "from second", 0.01))
        await probe.wait_for(lambda items: len(items) == 2)
        assert sorted(probe.items) == ["from first", "from second"]  # type: ignore[type-var]


@pytest.mark.anyio
async def test_a_restart_cancels_the_timers_of_the_old_instance() -> None:
    async with ActorSystem("timers") as system:
        probe = Probe()
        ref = await system.spawn(Ticker, probe)
        with pytest.raises(Boom):
            await ref.ask(
                [("single", "t", "tick", 0.03), ("periodic", "p", "periodic tick", 0.01), "fail"]
            )
        assert await ref.ask(("active", "t")) is False
        assert await ref.ask(("active", "p")) is False
        await ref.ask(("single", "sentinel", "sentinel", 0.06))
        await probe.wait_for(lambda items: "sentinel" in items)
        assert "tick" not in probe.items
        assert "periodic tick" not in probe.items


@pytest.mark.anyio
async def test_a_timer_started_in_on_start_runs_once_per_instance_after_restarts() -> None:
    async with ActorSystem("timers") as system:
        probe = Probe()
        ref = await system.spawn(Heartbeat, probe)
        ref.tell("fail")
        ref.tell("fail")

        def beats_since_last_start(items: list[object]) -> list[tuple[object, ...]]:
            starts = [i for i in items if isinstance(i, tuple) and i[0] == "start"]
            if len(starts) < 3:
                return []
            return [i for i in items[items.index(starts[-1]) :] if isinstance(i, tuple)][1:]

        await probe.wait_for(lambda items: len(beats_since_last_start(items)) >= 3)
        starts = [i[1] for i in probe.items if isinstance(i, tuple) and i[0] == "start"]
        assert len(starts) == 3
        # After the last restart, only the newest instance's timer beats.
        assert all(beat == ("beat", starts[-1]) for beat in beats_since_last_start(probe.items))


@pytest.mark.anyio
async def test_stopping_an_actor_cancels_its_timers() -> None:
    async with ActorSystem("timers") as system:
        probe, dead = Probe(), Probe()
        listener = await system.spawn(Ticker, dead)
        system.events.subscribe(listener, DeadLetter)
        ref = await system.spawn(Ticker, probe)
        await ref.ask(
            [("single", "t", "tick", 0.02), ("periodic", "p", "periodic tick", 0.01), "stop_self"]
        )
        other = await system.spawn(Ticker, probe)
        await other.ask(("single", "sentinel", "sentinel", 0.06))
        await probe.wait_for(lambda items: "sentinel" in items)
        assert probe.items == ["sentinel"]
        # A timer left running would have sent its message to the stopped actor.
        messages = [letter.message for letter in dead.items if isinstance(letter, DeadLetter)]
        assert "tick" not in messages
        assert "periodic tick" not in messages


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("request_", "shown"),
    [
        (("single", "t", "x", -1.0), "-1"),
        (("single", "t", "x", math.nan), "nan"),
        (("periodic", "t", "x", -0.5), "-0.5"),
        (("periodic", "t", "x", 0.0), "interval"),
    ],
)
async def test_timers_reject_negative_nan_and_zero_interval_delays(
    request_: tuple[object, ...], shown: str
) -> None:
    async with ActorSystem("timers") as system:
        probe = Probe()
        ref = await system.spawn(Ticker, probe)
        with pytest.raises(ValueError, match=shown):
            await ref.ask(request_)
