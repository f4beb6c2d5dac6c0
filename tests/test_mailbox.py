"""Bounded and unbounded mailboxes: overflow policies, send() backpressure, the system lane."""

from __future__ import annotations

import re

import anyio
import pytest

from actorlib import (
    Actor,
    ActorRef,
    ActorSystem,
    DeadLetter,
    Mailbox,
    MailboxFull,
    Overflow,
    Terminated,
)
from tests.helpers import Probe


class Recorder(Actor):
    """Puts every message into the probe."""

    def __init__(self, probe: Probe) -> None:
        self.probe = probe

    async def receive(self, message: object) -> object:
        self.probe.put(message)
        return None


class Gated(Actor):
    """On "block" signals `entered` and waits for `gate`; records everything else."""

    def __init__(self, probe: Probe, entered: anyio.Event, gate: anyio.Event) -> None:
        self.probe = probe
        self.entered = entered
        self.gate = gate

    async def receive(self, message: object) -> object:
        if message == "block":
            self.entered.set()
            await self.gate.wait()
        else:
            self.probe.put(message)
        return None


class Watcher(Actor):
    """Watches `target` from on_start and reports the `Terminated` it gets."""

    def __init__(self, target: ActorRef[object], probe: Probe) -> None:
        self.target = target
        self.probe = probe

    async def on_start(self) -> None:
        self.context.watch(self.target)
        self.probe.put("watching")

    async def receive(self, message: object) -> object:
        self.probe.put(message)
        return None


async def blocked_actor(
    system: ActorSystem, mailbox: Mailbox
) -> tuple[ActorRef[object], Probe, anyio.Event]:
    """Spawn a `Gated` actor and park it in a handler: its mailbox then only fills up."""
    probe, entered, gate = Probe(), anyio.Event(), anyio.Event()
    ref = await system.spawn(Gated, probe, entered, gate, mailbox=mailbox)
    ref.tell("block")
    with anyio.fail_after(5):
        await entered.wait()
    return ref, probe, gate


async def dead_letter_probe(system: ActorSystem) -> Probe:
    """A probe that receives every DeadLetter published on the system's event stream."""
    probe = Probe()
    listener = await system.spawn(Recorder, probe)
    system.events.subscribe(listener, DeadLetter)
    return probe


def dead_messages(probe: Probe) -> list[object]:
    return [item.message for item in probe.items if isinstance(item, DeadLetter)]


@pytest.mark.anyio
async def test_a_full_mailbox_with_overflow_fail_raises_mailbox_full_at_tell() -> None:
    async with ActorSystem("mailbox") as system:
        ref, probe, gate = await blocked_actor(system, Mailbox(capacity=2, overflow=Overflow.FAIL))
        ref.tell("a")
        ref.tell("b")
        with pytest.raises(MailboxFull, match=re.escape(ref.path)):
            ref.tell("c")
        gate.set()
        await ref.send("last")
        await probe.wait_for(lambda items: "last" in items)
        assert probe.items == ["a", "b", "last"]


@pytest.mark.anyio
async def test_overflow_fail_is_the_default_policy_of_a_bounded_mailbox() -> None:
    async with ActorSystem("mailbox") as system:
        ref, _, gate = await blocked_actor(system, Mailbox(capacity=1))
        ref.tell("a")
        with pytest.raises(MailboxFull):
            ref.tell("b")
        gate.set()


@pytest.mark.anyio
async def test_drop_newest_drops_the_incoming_message_as_a_dead_letter() -> None:
    async with ActorSystem("mailbox") as system:
        dead = await dead_letter_probe(system)
        ref, probe, gate = await blocked_actor(
            system, Mailbox(capacity=2, overflow=Overflow.DROP_NEWEST)
        )
        ref.tell("a")
        ref.tell("b")
        ref.tell("c")
        await dead.wait_for(lambda items: len(items) == 1)
        letter = dead.items[0]
        assert isinstance(letter, DeadLetter)
        assert letter.message == "c"
        assert letter.recipient == ref
        gate.set()
        await ref.send("last")
        await probe.wait_for(lambda items: "last" in items)
        assert probe.items == ["a", "b", "last"]


@pytest.mark.anyio
async def test_drop_oldest_drops_the_oldest_queued_message_as_a_dead_letter() -> None:
    async with ActorSystem("mailbox") as system:
        dead = await dead_letter_probe(system)
        ref, probe, gate = await blocked_actor(
            system, Mailbox(capacity=2, overflow=Overflow.DROP_OLDEST)
        )
        ref.tell("a")
        ref.tell("b")
        ref.tell("c")
        ref.tell("d")
        await dead.wait_for(lambda items: len(items) == 2)
        assert dead_messages(dead) == ["a", "b"]
        gate.set()
        await ref.send("last")
        await probe.wait_for(lambda items: "last" in items)
        assert probe.items == ["c", "d", "last"]


@pytest.mark.anyio
async def test_send_waits_for_room_then_delivers_in_order() -> None:
    async with ActorSystem("mailbox") as system:
        ref, probe, gate = await blocked_actor(system, Mailbox(capacity=1))
        ref.tell("a")
        sent: list[str] = []

        async def send(message: str) -> None:
            await ref.send(message)
            sent.append(message)

        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:
                tg.start_soon(send, "b")
                await anyio.wait_all_tasks_blocked()
                tg.start_soon(send, "c")
                await anyio.wait_all_tasks_blocked()
                assert sent == []  # both senders wait for room
                gate.set()
        assert sorted(sent) == ["b", "c"]
        await probe.wait_for(lambda items: len(items) == 3)
        assert probe.items == ["a", "b", "c"]


@pytest.mark.anyio
@pytest.mark.parametrize("overflow", [Overflow.DROP_NEWEST, Overflow.DROP_OLDEST])
async def test_send_waits_for_room_instead_of_applying_a_drop_policy(overflow: Overflow) -> None:
    async with ActorSystem("mailbox") as system:
        dead = await dead_letter_probe(system)
        ref, probe, gate = await blocked_actor(system, Mailbox(capacity=1, overflow=overflow))
        ref.tell("a")
        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:
                tg.start_soon(ref.send, "b")
                await anyio.wait_all_tasks_blocked()
                gate.set()
        await probe.wait_for(lambda items: len(items) == 2)
        assert probe.items == ["a", "b"]
        assert dead_messages(dead) == []


@pytest.mark.anyio
async def test_an_unbounded_mailbox_keeps_every_message() -> None:
    async with ActorSystem("mailbox") as system:
        ref, probe, gate = await blocked_actor(system, Mailbox())
        for i in range(5000):
            ref.tell(i)
        gate.set()
        await probe.wait_for(lambda items: len(items) == 5000)
        assert probe.items == list(range(5000))


@pytest.mark.anyio
async def test_stop_and_watch_are_not_stuck_behind_a_full_user_lane() -> None:
    async with ActorSystem("mailbox") as system:
        dead = await dead_letter_probe(system)
        ref, probe, gate = await blocked_actor(system, Mailbox(capacity=1))
        ref.tell("queued")
        watched = Probe()
        # watch() travels in the system lane: no MailboxFull although the user lane is full.
        await system.spawn(Watcher, ref, watched)
        await watched.wait_for(lambda items: "watching" in items)
        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:
                tg.start_soon(system.stop, ref)
                await anyio.wait_all_tasks_blocked()
                gate.set()
        # The stop overtook the queued user message, which became a dead letter.
        assert "queued" not in probe.items
        await dead.wait_for(lambda items: "queued" in dead_messages(dead))
        await watched.wait_for(lambda items: any(isinstance(i, Terminated) for i in items))
        terminated = [i for i in watched.items if isinstance(i, Terminated)]
        assert terminated == [Terminated(ref, None)]


@pytest.mark.anyio
async def test_a_send_waiting_for_room_becomes_a_dead_letter_when_the_actor_stops() -> None:
    async with ActorSystem("mailbox") as system:
        dead = await dead_letter_probe(system)
        ref, probe, gate = await blocked_actor(system, Mailbox(capacity=1))
        ref.tell("a")
        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:
                tg.start_soon(ref.send, "waiting")
                await anyio.wait_all_tasks_blocked()
                tg.start_soon(system.stop, ref)
                await anyio.wait_all_tasks_blocked()
                gate.set()
        await dead.wait_for(lambda items: "waiting" in dead_messages(dead))
        assert "waiting" not in probe.items


@pytest.mark.anyio
async def test_an_idle_actor_frees_its_user_lane_and_later_tells_still_arrive_in_order() -> None:
    async with ActorSystem("mailbox") as system:
        probe = Probe()
        ref = await system.spawn(Recorder, probe)
        for burst in range(3):
            for i in range(5):
                ref.tell((burst, i))
            await probe.wait_for(lambda items, n=5 * (burst + 1): len(items) == n)  # type: ignore[misc]
            await anyio.wait_all_tasks_blocked()
            # An idle actor keeps no deque (about 700 bytes) for its user lane.
            assert ref._target.mailbox.user is None  # type: ignore[attr-defined]
        assert probe.items == [(burst, i) for burst in range(3) for i in range(5)]
