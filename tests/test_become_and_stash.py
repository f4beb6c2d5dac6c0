"""become/unbecome behaviour switching, and stash/unstash_all."""

from __future__ import annotations

import anyio
import pytest

from actorlib import Actor, ActorStopped, ActorSystem, DeadLetter
from tests.helpers import Probe


class Boom(Exception):
    """A distinctive handler failure."""


class Moody(Actor):
    """Answers with its current mood; switches with become/unbecome on request."""

    async def receive(self, message: object) -> object:
        return self.common(message, "calm")

    async def happy(self, message: object) -> object:
        return self.common(message, "happy")

    async def grumpy(self, message: object) -> object:
        if message == "fail":
            raise Boom("grumpy")
        return self.common(message, "grumpy")

    def common(self, message: object, mood: str) -> object:
        match message:
            case "be happy":
                self.context.become(self.happy)
            case "be grumpy":
                self.context.become(self.grumpy)
            case "push grumpy":
                self.context.become(self.grumpy, discard_old=False)
            case "unbecome":
                self.context.unbecome()
            case "fail":
                raise Boom(mood)
        return mood


class Door(Actor):
    """Closed: stashes every message. "open" unstashes all and handles them."""

    def __init__(self, probe: Probe) -> None:
        self.probe = probe

    async def receive(self, message: object) -> object:
        if message == "open":
            self.context.become(self.opened)
            self.context.unstash_all()
            return "opened"
        if message == "fail":
            raise Boom("door broke while closed")
        self.context.stash()
        return None

    async def opened(self, message: object) -> object:
        if message == "fail":
            raise Boom("door broke")
        if message == "close":
            self.context.unbecome()
            return "closed"
        self.probe.put(message)
        return ("handled", message)


@pytest.mark.anyio
async def test_become_switches_the_handler_and_unbecome_returns_to_receive() -> None:
    async with ActorSystem("become") as system:
        ref = await system.spawn(Moody)
        assert await ref.ask("how are you") == "calm"
        await ref.ask("be happy")
        assert await ref.ask("how are you") == "happy"
        await ref.ask("unbecome")
        assert await ref.ask("how are you") == "calm"


@pytest.mark.anyio
async def test_become_replaces_the_behaviour_by_default() -> None:
    async with ActorSystem("become") as system:
        ref = await system.spawn(Moody)
        await ref.ask("be happy")
        await ref.ask("be grumpy")
        assert await ref.ask("how are you") == "grumpy"
        await ref.ask("unbecome")
        assert await ref.ask("how are you") == "calm"


@pytest.mark.anyio
async def test_become_without_discarding_stacks_behaviours_for_unbecome() -> None:
    async with ActorSystem("become") as system:
        ref = await system.spawn(Moody)
        await ref.ask("be happy")
        await ref.ask("push grumpy")
        assert await ref.ask("how are you") == "grumpy"
        await ref.ask("unbecome")
        assert await ref.ask("how are you") == "happy"
        await ref.ask("unbecome")
        assert await ref.ask("how are you") == "calm"


@pytest.mark.anyio
async def test_a_restart_returns_the_fresh_instance_to_receive() -> None:
    async with ActorSystem("become") as system:
        ref = await system.spawn(Moody)
        await ref.ask("be grumpy")
        with pytest.raises(Boom, match="grumpy"):
            await ref.ask("fail")
        assert await ref.ask("how are you") == "calm"


@pytest.mark.anyio
async def test_become_rejects_a_handler_that_is_not_async() -> None:
    class Sync(Actor):
        async def receive(self, message: object) -> object:
            self.context.become(lambda m: m)
            return None

    async with ActorSystem("become") as system:
        ref = await system.spawn(Sync)
        with pytest.raises(TypeError, match="async"):
            await ref.ask("go")


@pytest.mark.anyio
async def test_unstash_all_replays_stashed_messages_before_those_already_waiting() -> None:
    async with ActorSystem("stash") as system:
        probe = Probe()
        door = await system.spawn(Door, probe)
        # Told together: all four are queued before the door handles the first one,
        # so "c" is already waiting when "open" unstashes "a" and "b".
        door.tell("a")
        door.tell("b")
        door.tell("open")
        door.tell("c")
        await probe.wait_for(lambda items: len(items) == 3)
        assert probe.items == ["a", "b", "c"]


@pytest.mark.anyio
async def test_stashed_messages_keep_their_order_across_several_stash_rounds() -> None:
    async with ActorSystem("stash") as system:
        probe = Probe()
        door = await system.spawn(Door, probe)
        for message in ("a", "b", "open", "x", "close", "c", "d", "open", "e"):
            door.tell(message)
        await probe.wait_for(lambda items: len(items) == 6)
        assert probe.items == ["a", "b", "x", "c", "d", "e"]


@pytest.mark.anyio
async def test_an_ask_whose_message_was_stashed_is_answered_after_unstash() -> None:
    async with ActorSystem("stash") as system:
        probe = Probe()
        door = await system.spawn(Door, probe, name="door")
        replies: list[object] = []

        async def ask_question() -> None:
            replies.append(await door.ask("question"))

        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:
                tg.start_soon(ask_question)
                await anyio.wait_all_tasks_blocked()
                assert replies == []  # stashed, not answered with the None of receive
                assert await door.ask("open") == "opened"
        assert replies == [("handled", "question")]


@pytest.mark.anyio
async def test_stashed_messages_are_not_lost_when_the_actor_restarts() -> None:
    async with ActorSystem("stash") as system:
        probe = Probe()
        door = await system.spawn(Door, probe)
        door.tell("a")
        door.tell("b")
        door.tell("fail")
        door.tell("open")
        door.tell("c")
        # The fresh instance starts closed: it stashes a and b again until "open".
        await probe.wait_for(lambda items: len(items) == 3)
        assert probe.items == ["a", "b", "c"]


@pytest.mark.anyio
async def test_stashed_messages_become_dead_letters_when_the_actor_stops() -> None:
    async with ActorSystem("stash") as system:
        dead = Probe()
        listener = await system.spawn(Door, dead)
        await listener.ask("open")
        system.events.subscribe(listener, DeadLetter)
        door = await system.spawn(Door, Probe())
        outcome: list[BaseException] = []

        async def ask_stashed() -> None:
            try:
                await door.ask("question", timeout=60.0)
            except ActorStopped as error:
                outcome.append(error)

        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:
                door.tell("a")
                door.tell("b")
                tg.start_soon(ask_stashed)
                await anyio.wait_all_tasks_blocked()  # all three are stashed now
                await system.stop(door)
        assert len(outcome) == 1
        await dead.wait_for(lambda items: len(items) >= 2)
        letters = [i for i in dead.items if isinstance(i, DeadLetter) and i.recipient == door]
        assert [letter.message for letter in letters][:2] == ["a", "b"]
