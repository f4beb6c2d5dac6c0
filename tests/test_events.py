"""Dead letters and the event stream: subscribe, unsubscribe, publish."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from actorlib import Actor, ActorRef, ActorSystem, DeadLetter
from tests.helpers import Probe as BaseProbe


class Probe(BaseProbe):
    """The shared probe, with this file's own queries."""

    def letters(self) -> list[DeadLetter]:
        return [i for i in self.items if isinstance(i, DeadLetter)]


@dataclass(frozen=True)
class Event:
    """A user event type."""

    value: int


@dataclass(frozen=True)
class SpecialEvent(Event):
    """A subclass of a user event type."""


@dataclass(frozen=True)
class OtherEvent:
    """An unrelated event type."""

    value: int


class Listener(Actor):
    """Puts every message into the probe; ("tell", target, message) tells target from here."""

    def __init__(self, probe: Probe) -> None:
        self.probe = probe

    async def receive(self, message: object) -> object:
        match message:
            case ("tell", ActorRef() as target, payload):
                target.tell(payload)
            case "sync":
                pass
            case _:
                self.probe.put(message)
        return None


async def stopped_actor(system: ActorSystem) -> ActorRef[object]:
    ref = await system.spawn(Listener, Probe(), name="gone")
    await system.stop(ref)
    return ref


@pytest.mark.anyio
async def test_a_tell_to_a_stopped_actor_publishes_a_dead_letter() -> None:
    async with ActorSystem("events") as system:
        probe = Probe()
        listener = await system.spawn(Listener, probe)
        system.events.subscribe(listener, DeadLetter)
        gone = await stopped_actor(system)
        gone.tell("late")
        await probe.wait_for(lambda items: bool(probe.letters()))
        assert probe.letters() == [DeadLetter("late", gone, None)]


@pytest.mark.anyio
async def test_a_dead_letter_names_the_sending_actor() -> None:
    async with ActorSystem("events") as system:
        probe = Probe()
        listener = await system.spawn(Listener, probe)
        system.events.subscribe(listener, DeadLetter)
        gone = await stopped_actor(system)
        sender = await system.spawn(Listener, Probe())
        sender.tell(("tell", gone, "from an actor"))
        await probe.wait_for(lambda items: bool(probe.letters()))
        [letter] = probe.letters()
        assert letter.message == "from an actor"
        assert letter.recipient == gone
        assert letter.sender == sender


@pytest.mark.anyio
async def test_a_send_to_a_stopped_actor_publishes_a_dead_letter() -> None:
    async with ActorSystem("events") as system:
        probe = Probe()
        listener = await system.spawn(Listener, probe)
        system.events.subscribe(listener, DeadLetter)
        gone = await stopped_actor(system)
        await gone.send("sent late")
        await probe.wait_for(lambda items: bool(probe.letters()))
        assert [letter.message for letter in probe.letters()] == ["sent late"]


@pytest.mark.anyio
async def test_dead_letters_are_counted_in_the_statistics() -> None:
    async with ActorSystem("events") as system:
        gone = await stopped_actor(system)
        before = system.statistics().dead_letters
        for i in range(3):
            gone.tell(i)
        assert system.statistics().dead_letters == before + 3


@pytest.mark.anyio
async def test_after_unsubscribe_a_listener_gets_no_more_events() -> None:
    async with ActorSystem("events") as system:
        dropped, kept = Probe(), Probe()
        leaving = await system.spawn(Listener, dropped)
        staying = await system.spawn(Listener, kept)
        system.events.subscribe(leaving, DeadLetter)
        system.events.subscribe(staying, DeadLetter)
        gone = await stopped_actor(system)
        gone.tell("first")
        await dropped.wait_for(lambda items: len(items) == 1)
        system.events.unsubscribe(leaving, DeadLetter)
        gone.tell("second")
        await kept.wait_for(lambda items: len(items) == 2)
        await leaving.ask("sync")
        assert [letter.message for letter in dropped.letters()] == ["first"]


@pytest.mark.anyio
async def test_unsubscribe_without_a_type_removes_every_subscription() -> None:
    async with ActorSystem("events") as system:
        dropped, kept = Probe(), Probe()
        leaving = await system.spawn(Listener, dropped)
        staying = await system.spawn(Listener, kept)
        for listener in (leaving, staying):
            system.events.subscribe(listener, Event)
            system.events.subscribe(listener, OtherEvent)
        system.events.unsubscribe(leaving)
        system.events.publish(Event(1))
        system.events.publish(OtherEvent(2))
        await kept.wait_for(lambda items: len(items) == 2)
        await leaving.ask("sync")
        assert dropped.items == []


@pytest.mark.anyio
async def test_published_events_reach_only_subscribers_of_their_type() -> None:
    async with ActorSystem("events") as system:
        events, others = Probe(), Probe()
        event_listener = await system.spawn(Listener, events)
        other_listener = await system.spawn(Listener, others)
        system.events.subscribe(event_listener, Event)
        system.events.subscribe(other_listener, OtherEvent)
        system.events.publish(Event(1))
        system.events.publish(OtherEvent(2))
        system.events.publish(Event(3))
        await events.wait_for(lambda items: len(items) == 2)
        await others.wait_for(lambda items: len(items) == 1)
        await event_listener.ask("sync")
        assert events.items == [Event(1), Event(3)]
        assert others.items == [OtherEvent(2)]


@pytest.mark.anyio
async def test_a_subscription_to_a_type_also_receives_its_subclasses() -> None:
    async with ActorSystem("events") as system:
        probe = Probe()
        listener = await system.spawn(Listener, probe)
        system.events.subscribe(listener, Event)
        system.events.publish(SpecialEvent(7))
        await probe.wait_for(lambda items: len(items) == 1)
        assert probe.items == [SpecialEvent(7)]


@pytest.mark.anyio
async def test_a_stopped_subscriber_does_not_break_publishing() -> None:
    async with ActorSystem("events") as system:
        probe = Probe()
        stopped = await system.spawn(Listener, Probe())
        alive = await system.spawn(Listener, probe)
        system.events.subscribe(stopped, DeadLetter)
        system.events.subscribe(alive, DeadLetter)
        await system.stop(stopped)
        gone = await stopped_actor(system)
        gone.tell("one")
        gone.tell("two")

        def plain(items: list[object]) -> list[object]:
            # Skip any dead letter about the DeadLetter events the stopped subscriber missed.
            return [i.message for i in items if isinstance(i, DeadLetter) and i.recipient == gone]

        await probe.wait_for(lambda items: len(plain(items)) >= 2)
        assert plain(probe.items) == ["one", "two"]
