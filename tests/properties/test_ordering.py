"""Per-sender FIFO: however several senders interleave, each one's messages arrive in order."""

from __future__ import annotations

import anyio
import anyio.lowlevel
import pytest
from hypothesis import given

from actorlib import Actor, ActorRef, ActorSystem, Mailbox
from tests.properties.strategies import BACKENDS, OrderingPlan, Sender, SendMode, ordering_plans


async def deliver(target: ActorRef[object], message: object, mode: SendMode) -> None:
    if mode == "tell":
        target.tell(message)
    elif mode == "send":
        await target.send(message)
    else:
        await target.ask(message)


class Receiver(Actor):
    """Records (sender index, sequence number) pairs in arrival order; `done` once all came."""

    def __init__(self, log: list[object], expected: int, done: anyio.Event) -> None:
        self.log = log
        self.expected = expected
        self.done = done

    async def receive(self, message: object) -> object:
        self.log.append(message)
        if len(self.log) >= self.expected:
            self.done.set()
        return None


class Emitter(Actor):
    """An actor sender: each "next" turn sends its next message to the receiver."""

    def __init__(self, index: int, spec: Sender, receiver: ActorRef[object]) -> None:
        self.index = index
        self.spec = spec
        self.receiver = receiver
        self.sent = 0

    async def receive(self, message: object) -> object:
        if message == "next":
            seq = self.sent
            self.sent += 1
            await deliver(self.receiver, (self.index, seq), self.spec.modes[seq])
            for _ in range(self.spec.pauses[seq]):
                await anyio.lowlevel.checkpoint()
        return None


async def run_plan(plan: OrderingPlan) -> list[object]:
    log: list[object] = []
    expected = sum(len(sender.modes) for sender in plan.senders)
    done = anyio.Event()
    async with ActorSystem("ordering") as system:
        receiver = await system.spawn(
            Receiver, log, expected, done, mailbox=Mailbox(capacity=plan.capacity)
        )
        emitters = {
            i: await system.spawn(Emitter, i, sender, receiver)
            for i, sender in enumerate(plan.senders)
            if sender.is_actor
        }

        async def outside_sender(index: int, spec: Sender) -> None:
            for seq, mode in enumerate(spec.modes):
                await deliver(receiver, (index, seq), mode)
                for _ in range(spec.pauses[seq]):
                    await anyio.lowlevel.checkpoint()

        async def hand_out_turns() -> None:
            for index in plan.schedule:
                await emitters[index].send("next")
                await anyio.lowlevel.checkpoint()

        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                for index, spec in enumerate(plan.senders):
                    if not spec.is_actor:
                        tg.start_soon(outside_sender, index, spec)
                tg.start_soon(hand_out_turns)
            if expected:
                await done.wait()
    return log


@pytest.mark.parametrize("backend", BACKENDS)
@given(plan=ordering_plans())
def test_each_senders_messages_arrive_in_the_order_sent(backend: str, plan: OrderingPlan) -> None:
    log = anyio.run(run_plan, plan, backend=backend)
    assert len(log) == sum(len(sender.modes) for sender in plan.senders)
    for index, sender in enumerate(plan.senders):
        from_sender = [entry[1] for entry in log if isinstance(entry, tuple) and entry[0] == index]
        assert from_sender == list(range(len(sender.modes)))
