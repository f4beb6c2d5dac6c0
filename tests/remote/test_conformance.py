"""The transport conformance suite: every transport keeps the same promises.

Two nodes (systems) A and B, linked by the transport under test; A talks to
actors on B through refs exactly as it would to local ones.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from actorlib import (
    Actor,
    ActorRef,
    ActorStopped,
    ActorSystem,
    DeadLetter,
    Mailbox,
    PoisonPill,
    Terminated,
)
from actorlib.remote import (
    NodeLost,
)
from tests.helpers import Collector, Probe

from .pairs import TRANSPORTS, Pair, make_transport

pytestmark = pytest.mark.anyio


@pytest.fixture(params=TRANSPORTS)
async def pair(request: pytest.FixtureRequest) -> AsyncIterator[Pair]:
    transport_a = make_transport(request.param, request)
    transport_b = make_transport(request.param, request)
    async with (
        ActorSystem("b", transport=transport_b) as b,
        ActorSystem("a", transport=transport_a) as a,
    ):
        peer = await transport_a.connect(transport_b.address or "")
        yield Pair(a, b, peer)


class Calculator(Actor):
    def __init__(self, gate: anyio.Event | None = None) -> None:
        self.gate = gate  # given on B's side: an event does not travel

    async def receive(self, message: object) -> object:
        match message:
            case ("add", int(x), int(y)):
                return x + y
            case ("fail", str(text)):
                raise ValueError(text)
            case ("reply-to", ActorRef() as ref, payload):
                ref.tell(("reply", payload))
                return None
            case "slow":
                assert self.gate is not None
                await self.gate.wait()
                return None
        return message


class Sender(Actor):
    """Sends *count* numbered messages to *target* when told "go"."""

    def __init__(self, target: ActorRef[Any], tag: str, count: int) -> None:
        self.target, self.tag, self.count = target, tag, count

    async def receive(self, message: object) -> None:
        for i in range(self.count):
            self.target.tell((self.tag, i))


class Watcher(Actor):
    def __init__(self, probe: Probe) -> None:
        self.probe = probe

    async def receive(self, message: object) -> None:
        if isinstance(message, Terminated):
            self.probe.put(("terminated", message.ref, message.error))
        elif isinstance(message, ActorRef):
            self.context.watch(message)
            self.probe.put("watching")


async def eventually(check: Any) -> None:
    """Wait (5 s at most), letting the event loop run, until check() is true."""
    with anyio.fail_after(5):
        while not check():
            await anyio.lowlevel.checkpoint()


async def test_messages_from_one_sender_arrive_in_order(pair: Pair) -> None:
    collector = await pair.spawn_on_b(Collector, name="collector")
    senders = [await pair.a.spawn(Sender, collector, tag, 300) for tag in "xyz"]
    for sender in senders:
        sender.tell("go")
    for i in range(300):
        collector.tell(("outside", i))
    with anyio.fail_after(10):
        while len(seen := await collector.ask("get")) < 1200:
            await anyio.lowlevel.checkpoint()
    for tag in ("x", "y", "z", "outside"):
        assert [i for t, i in seen if t == tag] == list(range(300))


async def test_ask_gets_the_reply_and_the_handlers_error(pair: Pair) -> None:
    calculator = await pair.spawn_on_b(Calculator, name="calc")
    assert await calculator.ask(("add", 2, 3)) == 5
    with pytest.raises(ValueError, match="bad input") as caught:
        await calculator.ask(("fail", "bad input"))
    assert any("raised by actor /user/calc" in note for note in caught.value.__notes__)
    assert await calculator.ask(("add", 1, 1)) == 2  # restarted on B, still answering


async def test_many_concurrent_asks_each_get_their_own_reply(pair: Pair) -> None:
    calculator = await pair.spawn_on_b(Calculator, name="calc")
    results: dict[int, object] = {}

    async def ask(i: int) -> None:
        results[i] = await calculator.ask(("add", i, i))

    async with anyio.create_task_group() as group:
        for i in range(32):
            group.start_soon(ask, i)
    assert results == {i: 2 * i for i in range(32)}


async def test_refs_inside_messages_reach_back_to_their_actor(pair: Pair) -> None:
    calculator = await pair.spawn_on_b(Calculator, name="calc")
    collector = await pair.a.spawn(Collector, name="local-collector")
    calculator.tell(("reply-to", collector, "hello"))
    await eventually(lambda: True)
    with anyio.fail_after(5):
        while await collector.ask("get") != [("reply", "hello")]:
            await anyio.lowlevel.checkpoint()


async def test_an_ask_to_a_stopped_remote_actor_fails_at_once(pair: Pair) -> None:
    calculator = await pair.spawn_on_b(Calculator, name="calc")
    local = pair.b.lookup("calc")
    assert local is not None
    await pair.b.stop(local)
    with pytest.raises(ActorStopped, match="/user/calc is stopped"):
        await calculator.ask(("add", 1, 2), timeout=None)


async def test_a_watcher_gets_terminated_when_the_remote_actor_stops(pair: Pair) -> None:
    probe = Probe()
    calculator = await pair.spawn_on_b(Calculator, name="calc")
    watcher = await pair.a.spawn(Watcher, probe)
    watcher.tell(calculator)
    await probe.wait_for(lambda items: "watching" in items)
    # Watch travels before the PoisonPill on the same link: it cannot be missed.
    calculator.tell(PoisonPill())
    await probe.wait_for(lambda items: len(items) == 2)
    assert probe.items[1] == ("terminated", calculator, None)


async def test_link_loss_is_terminated_for_watchers_and_fails_pending_asks(pair: Pair) -> None:
    probe = Probe()
    gate = anyio.Event()
    calculator = await pair.spawn_on_b(Calculator, gate, name="calc")
    watcher = await pair.a.spawn(Watcher, probe)
    watcher.tell(calculator)
    await probe.wait_for(lambda items: "watching" in items)
    failures: list[BaseException] = []

    async def ask_and_fail() -> None:
        try:
            await calculator.ask("slow", timeout=None)
        except NodeLost as error:
            failures.append(error)

    async with anyio.create_task_group() as group:
        group.start_soon(ask_and_fail)
        local = pair.b.lookup("calc")
        assert local is not None
        cell: Any = local._target
        await eventually(lambda: cell.current is not None)  # B is handling the ask
        await pair.transport_b.stop()  # B drops every link
    gate.set()
    assert len(failures) == 1
    assert "was lost" in str(failures[0])
    await probe.wait_for(lambda items: len(items) == 2)
    notice: Any = probe.items[1]
    assert notice[1] == calculator
    assert isinstance(notice[2], NodeLost)


async def test_large_messages_travel_intact(pair: Pair) -> None:
    calculator = await pair.spawn_on_b(Calculator, name="calc")
    big = bytes(range(256)) * (4 * 1024 * 4)  # 4 MiB
    assert await calculator.ask(big) == big


async def test_send_waits_for_room_in_a_bounded_remote_mailbox(pair: Pair) -> None:
    gate = anyio.Event()
    await pair.b.spawn(Calculator, gate, name="calc", mailbox=Mailbox(capacity=4))
    calculator = await pair.peer.lookup("calc")
    assert calculator is not None
    sent: list[int] = []

    async def send_all() -> None:
        await calculator.send("slow")
        for i in range(20):
            await calculator.send(i)
            sent.append(i)

    async with anyio.create_task_group() as group:
        group.start_soon(send_all)
        local = pair.b.lookup("calc")
        assert local is not None
        cell: Any = local._target
        await eventually(lambda: cell.mailbox.user_depth == 4)
        assert len(sent) <= 5  # waiting for room, not piling up on B
        gate.set()
    assert sent == list(range(20))


async def test_tells_cut_off_by_link_loss_are_delivered_or_dead_letters(pair: Pair) -> None:
    collector = await pair.spawn_on_b(Collector, name="collector")
    local = pair.b.lookup("collector")
    assert local is not None
    cell: Any = local._target
    letters = await pair.a.spawn(Collector, name="letters")
    pair.a.events.subscribe(letters, DeadLetter)
    sent = [("n", i) for i in range(3000)]
    for message in sent:
        collector.tell(message)
    await eventually(lambda: cell.instance.seen)  # some of them are through
    await pair.transport_b.stop()  # the link dies with tells in flight
    await eventually(lambda: not pair.a.transport.node.links)  # type: ignore[union-attr]
    seen = set(cell.instance.seen if cell.instance else [])
    dead_letters = await letters.ask("get")
    dead = {letter.message for letter in dead_letters if letter.recipient == collector}
    # At most once, never silently: each tell arrived, or is a dead letter (or both,
    # when it arrived but its acknowledgement did not).
    assert seen | dead == set(sent)


async def test_system_stop_stops_a_remote_actor_and_waits_for_it(pair: Pair) -> None:
    probe = Probe()
    calculator = await pair.spawn_on_b(Calculator, name="calc")
    watcher = await pair.a.spawn(Watcher, probe)
    watcher.tell(calculator)
    await probe.wait_for(lambda items: "watching" in items)
    await pair.a.stop(calculator)
    assert pair.b.lookup("calc") is None  # terminated on B before stop() returned
    await probe.wait_for(lambda items: ("terminated", calculator, None) in items)
    await pair.a.stop(calculator)  # stopping it again returns at once
