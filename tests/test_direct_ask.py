"""Asks answered in the asker's task keep every promise of asks that go through the mailbox.

An ask to an idle actor whose handler has no await runs that handler in the
asker's task (`Cell.post_ask`). Each test runs twice: against `Direct`, whose
`receive` never awaits, and against `Queued`, the same behaviour behind an
await, which always goes through the mailbox and a dispatcher worker.
"""

from __future__ import annotations

import anyio
import pytest

from actorlib import Actor, ActorRef, ActorStopped, ActorSystem, Failure
from actorlib.testing import SimulatedSystem


class Boom(Exception):
    """A distinctive handler failure."""


class Ledger(Actor):
    """The behaviour under test, as a plain function of the message."""

    def __init__(self) -> None:
        self.count = 0
        self.log: list[object] = []
        self.locked = False

    def react(self, message: object) -> object:
        match message:
            case ("echo", value):
                return value
            case "incr":
                self.count += 1
                return self.count
            case "fail":
                raise Boom("asked to fail")
            case "refuse":
                return Failure(ValueError("refused on purpose"))
            case "task":
                return anyio.get_current_task().id
            case "sender":
                return self.context.sender
            case ("tell", ActorRef() as ref, payload):
                ref.tell(payload)
            case ("record", value):
                self.log.append(value)
            case ("tell-self", value):
                self.ref.tell(("record", value))
                return "told"
            case "log":
                return list(self.log)
            case "lock":
                self.locked = True
            case "unlock":
                self.locked = False
                self.context.unstash_all()
                return "unlocked"
            case ("locked-echo", value):
                if self.locked:
                    self.context.stash()
                return value
            case ("forward", ActorRef() as ref):
                self.context.forward(ref)
            case "stop":
                self.context.stop()
                return "stopping"
        return None


class Direct(Ledger):
    """No await in `receive`: idle, it answers in the asker's task."""

    async def receive(self, message: object) -> object:
        return self.react(message)


async def _nothing() -> None:
    return None


class Queued(Ledger):
    """The same behaviour behind an await: always through the mailbox."""

    async def receive(self, message: object) -> object:
        await _nothing()
        return self.react(message)


class Tagger(Actor):
    """Answers what it is forwarded with a tag, to show who answered."""

    async def receive(self, message: object) -> object:
        return ("tagged", message)


class Recorder(Actor):
    """Records (sender, message) pairs; answers "log" with them."""

    def __init__(self) -> None:
        self.seen: list[tuple[object, object]] = []

    async def receive(self, message: object) -> object:
        if message == "log":
            return list(self.seen)
        self.seen.append((self.context.sender, message))
        return None


class Asker(Actor):
    """Asks `target` whatever it is asked to, from inside its own handler."""

    async def receive(self, message: object) -> object:
        match message:
            case (ActorRef() as target, question):
                return await target.ask(question)
        raise TypeError(f"expected (ref, question), got {message!r}")


@pytest.fixture(params=[Direct, Queued], ids=["direct", "queued"])
def ledger(request: pytest.FixtureRequest) -> type[Ledger]:
    """Each test runs against both paths."""
    return request.param  # type: ignore[no-any-return]


async def started(system: ActorSystem, ledger: type[Ledger]) -> ActorRef[object]:
    """Spawn and wait until it runs: an actor still starting is never asked directly."""
    ref = await system.spawn(ledger)
    await ref.ask(("echo", None))
    return ref


@pytest.mark.anyio
async def test_only_a_handler_without_await_answers_in_the_askers_task(
    ledger: type[Ledger],
) -> None:
    async with ActorSystem("direct") as system:
        ref = await started(system, ledger)
        in_this_task = await ref.ask("task") == anyio.get_current_task().id
        assert in_this_task is (ledger is Direct)


@pytest.mark.anyio
async def test_an_ask_never_overtakes_the_same_senders_earlier_tells(
    ledger: type[Ledger],
) -> None:
    async with ActorSystem("direct") as system:
        ref = await started(system, ledger)
        for value in range(3):
            ref.tell(("record", value))
        assert await ref.ask("log") == [0, 1, 2]


@pytest.mark.anyio
async def test_what_a_handler_tells_itself_is_handled_before_a_later_ask(
    ledger: type[Ledger],
) -> None:
    async with ActorSystem("direct") as system:
        ref = await started(system, ledger)
        assert await ref.ask(("tell-self", "x")) == "told"
        assert await ref.ask("log") == ["x"]


@pytest.mark.anyio
async def test_a_failing_handler_raises_in_the_asker_and_the_actor_is_restarted(
    ledger: type[Ledger],
) -> None:
    async with ActorSystem("direct") as system:
        ref = await started(system, ledger)
        assert await ref.ask("incr") == 1
        with pytest.raises(Boom, match="asked to fail") as caught:
            await ref.ask("fail")
        assert ref.path in "\n".join(caught.value.__notes__)
        assert await ref.ask("incr") == 1  # a fresh instance: the count restarted


@pytest.mark.anyio
async def test_a_refusal_raises_in_the_asker_and_the_actor_keeps_its_state(
    ledger: type[Ledger],
) -> None:
    async with ActorSystem("direct") as system:
        ref = await started(system, ledger)
        assert await ref.ask("incr") == 1
        with pytest.raises(ValueError, match="refused on purpose"):
            await ref.ask("refuse")
        assert await ref.ask("incr") == 2


@pytest.mark.anyio
async def test_a_stashed_ask_is_answered_once_unstashed(ledger: type[Ledger]) -> None:
    async with ActorSystem("direct") as system:
        ref = await started(system, ledger)
        await ref.ask("lock")
        answers: list[object] = []

        async def ask_while_locked() -> None:
            answers.append(await ref.ask(("locked-echo", 7), timeout=5))

        async with anyio.create_task_group() as tg:
            tg.start_soon(ask_while_locked)
            await anyio.wait_all_tasks_blocked()
            assert answers == []
            assert await ref.ask("unlock") == "unlocked"
        assert answers == [7]


@pytest.mark.anyio
async def test_a_forwarded_ask_is_answered_by_the_actor_it_was_forwarded_to(
    ledger: type[Ledger],
) -> None:
    async with ActorSystem("direct") as system:
        ref = await started(system, ledger)
        tagger = await system.spawn(Tagger)
        assert await ref.ask(("forward", tagger), timeout=5) == ("tagged", ("forward", tagger))


@pytest.mark.anyio
async def test_the_handler_sees_the_asking_actor_and_tells_as_itself(
    ledger: type[Ledger],
) -> None:
    async with ActorSystem("direct") as system:
        ref = await started(system, ledger)
        recorder = await system.spawn(Recorder)
        asker = await system.spawn(Asker)
        assert await asker.ask((ref, "sender")) == asker
        await asker.ask((ref, ("tell", recorder, "hello")))
        assert await recorder.ask("log") == [(ref, "hello")]


@pytest.mark.anyio
async def test_an_actor_that_stops_itself_answers_first_then_refuses(
    ledger: type[Ledger],
) -> None:
    async with ActorSystem("direct") as system:
        ref = await started(system, ledger)
        assert await ref.ask("stop") == "stopping"
        await system.stop(ref)  # returns once it has terminated
        with pytest.raises(ActorStopped):
            await ref.ask(("echo", 1))


@pytest.mark.anyio
async def test_a_task_asking_in_a_loop_still_lets_other_tasks_run(
    ledger: type[Ledger],
) -> None:
    async with ActorSystem("direct") as system:
        ref = await started(system, ledger)
        others_ran = anyio.Event()
        asks_before_they_ran = None
        async with anyio.create_task_group() as tg:
            tg.start_soon(_set, others_ran)
            # The asker yields once every 64 direct asks. Another task ready at
            # that yield may still run after the asker resumes (trio picks the
            # order within a batch at random), so allow 20 yields: without any
            # yield at all, the other task would never run inside the loop.
            for asked in range(1, 64 * 20 + 1):
                await ref.ask("incr")
                if others_ran.is_set():
                    asks_before_they_ran = asked
                    break
        assert asks_before_they_ran is not None


async def _set(event: anyio.Event) -> None:
    event.set()


@pytest.mark.anyio
async def test_a_simulated_system_puts_every_ask_through_its_delivery_controller() -> None:
    async with SimulatedSystem() as system:
        ref = await system.spawn(Direct, name="ledger")
        assert await ref.ask(("echo", 1)) == 1
        assert await ref.ask("task") != anyio.get_current_task().id
    assert [step.kind for step in system.trace] == ["ask", "reply", "ask", "reply"]
