"""tell() and send(): delivery, per-sender order, one message at a time, the sender."""

from __future__ import annotations

import anyio
import anyio.lowlevel
import pytest

from actorlib import Actor, ActorRef, ActorSystem
from tests.helpers import Probe


class Recorder(Actor):
    """Puts every message into the probe; answers "ping" with "pong"."""

    def __init__(self, probe: Probe) -> None:
        self.probe = probe

    async def receive(self, message: object) -> object:
        self.probe.put(message)
        return "pong" if message == "ping" else None


class Emitter(Actor):
    """On ("emit", target, count) sends (own name, i) for i < count to target, mixing modes."""

    async def receive(self, message: object) -> object:
        match message:
            case ("emit", ActorRef() as target, int(count)):
                for i in range(count):
                    item = (self.ref.name, i)
                    if i % 3 == 0:
                        target.tell(item)
                    elif i % 3 == 1:
                        await target.send(item)
                    else:
                        await target.ask(item)
        return None


class Careful(Actor):
    """Reads, yields, then writes its state: concurrent handling would lose updates."""

    def __init__(self, stats: dict[str, int]) -> None:
        self.stats = stats
        self.value = 0

    async def receive(self, message: object) -> object:
        if message == "get":
            return self.value
        self.stats["active"] += 1
        self.stats["peak"] = max(self.stats["peak"], self.stats["active"])
        before = self.value
        await anyio.lowlevel.checkpoint()
        await anyio.lowlevel.checkpoint()
        self.value = before + 1
        self.stats["active"] -= 1
        return None


class SenderReporter(Actor):
    """Reports `context.sender` of each message; ("forward", target) tells target from here."""

    def __init__(self, probe: Probe) -> None:
        self.probe = probe

    async def receive(self, message: object) -> object:
        match message:
            case ("forward", ActorRef() as target):
                target.tell("from an actor")
            case _:
                self.probe.put((message, self.context.sender))
        return None


@pytest.mark.anyio
async def test_tell_returns_none_and_the_message_is_handled() -> None:
    async with ActorSystem("tell") as system:
        probe = Probe()
        ref = await system.spawn(Recorder, probe)
        assert ref.tell("hello") is None  # type: ignore[func-returns-value]
        await probe.wait_for(lambda items: items == ["hello"])


@pytest.mark.anyio
async def test_messages_from_one_outside_sender_arrive_in_the_order_sent() -> None:
    async with ActorSystem("tell") as system:
        probe = Probe()
        ref = await system.spawn(Recorder, probe)
        for i in range(500):
            ref.tell(i)
        await probe.wait_for(lambda items: len(items) == 500)
        assert probe.items == list(range(500))


@pytest.mark.anyio
async def test_send_delivers_in_the_order_sent() -> None:
    async with ActorSystem("tell") as system:
        probe = Probe()
        ref = await system.spawn(Recorder, probe)
        for i in range(200):
            await ref.send(i)
        await probe.wait_for(lambda items: len(items) == 200)
        assert probe.items == list(range(200))


@pytest.mark.anyio
async def test_messages_from_each_actor_sender_arrive_in_the_order_sent() -> None:
    async with ActorSystem("tell") as system:
        probe = Probe()
        receiver = await system.spawn(Recorder, probe)
        emitters = [await system.spawn(Emitter, name=f"emitter-{n}") for n in range(4)]
        for emitter in emitters:
            emitter.tell(("emit", receiver, 60))
        await probe.wait_for(lambda items: len(items) == 240)
        for emitter in emitters:
            from_it = [
                item[1]
                for item in probe.items
                if isinstance(item, tuple) and item[0] == emitter.name
            ]
            assert from_it == list(range(60))


@pytest.mark.anyio
async def test_an_actor_handles_one_message_at_a_time_even_while_its_handler_awaits() -> None:
    async with ActorSystem("tell") as system:
        stats = {"active": 0, "peak": 0}
        ref = await system.spawn(Careful, stats)

        async def by_send() -> None:
            for _ in range(30):
                await ref.send("incr")

        async def by_ask() -> None:
            for _ in range(30):
                await ref.ask("incr")

        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:
                for _ in range(30):
                    ref.tell("incr")
                tg.start_soon(by_send)
                tg.start_soon(by_ask)
                tg.start_soon(by_ask)
            assert await ref.ask("get") == 120
        assert stats["peak"] == 1
        assert stats["active"] == 0


@pytest.mark.anyio
async def test_a_message_an_actor_tells_itself_is_handled_after_the_current_one() -> None:
    class SelfTeller(Actor):
        def __init__(self, probe: Probe) -> None:
            self.probe = probe

        async def receive(self, message: object) -> object:
            if message == "first":
                self.ref.tell("second")
                await anyio.lowlevel.checkpoint()
                self.probe.put("first done")
            else:
                self.probe.put(message)
            return None

    async with ActorSystem("tell") as system:
        probe = Probe()
        ref = await system.spawn(SelfTeller, probe)
        ref.tell("first")
        await probe.wait_for(lambda items: len(items) == 2)
        assert probe.items == ["first done", "second"]


@pytest.mark.anyio
async def test_tell_and_send_to_a_stopped_actor_do_not_raise() -> None:
    async with ActorSystem("tell") as system:
        probe = Probe()
        ref = await system.spawn(Recorder, probe)
        await system.stop(ref)
        ref.tell("lost")
        await ref.send("lost too")
        assert "lost" not in probe.items
        assert "lost too" not in probe.items


@pytest.mark.anyio
async def test_context_sender_is_the_sending_actor_or_none_from_outside() -> None:
    async with ActorSystem("tell") as system:
        probe = Probe()
        reporter = await system.spawn(SenderReporter, probe)
        forwarder = await system.spawn(SenderReporter, Probe())
        reporter.tell("from outside")
        forwarder.tell(("forward", reporter))
        await probe.wait_for(lambda items: len(items) == 2)
        senders = {item[0]: item[1] for item in probe.items if isinstance(item, tuple)}
        assert senders["from outside"] is None
        assert senders["from an actor"] == forwarder


@pytest.mark.anyio
async def test_ask_from_outside_has_no_sender_and_from_an_actor_has_that_actor() -> None:
    class Asker(Actor):
        async def receive(self, message: object) -> object:
            assert isinstance(message, ActorRef)
            return await message.ask("who")

    class WhoAsks(Actor):
        async def receive(self, message: object) -> object:
            return self.context.sender

    async with ActorSystem("tell") as system:
        who = await system.spawn(WhoAsks)
        asker = await system.spawn(Asker)
        assert await who.ask("who") is None
        assert await asker.ask(who) == asker


@pytest.mark.anyio
async def test_an_actor_that_keeps_telling_itself_does_not_starve_the_others() -> None:
    class Spinner(Actor):
        def __init__(self, spins: list[int]) -> None:
            self.spins = spins
            self.spinning = True

        async def receive(self, message: object) -> object:
            if message == "halt":
                self.spinning = False
            elif message == "spin" and self.spinning:
                self.spins[0] += 1
                self.ref.tell("spin")
            return None

    async with ActorSystem("tell") as system:
        spins = [0]
        spinner = await system.spawn(Spinner, spins)
        probe = Probe()
        other = await system.spawn(Recorder, probe)
        spinner.tell("spin")
        with anyio.fail_after(5):
            # The spinner never runs out of messages, yet the other actor still answers.
            for _ in range(3):
                assert await other.ask("ping") == "pong"
            spinner.tell("halt")
            await spinner.ask("sync")
        assert spins[0] > 0
