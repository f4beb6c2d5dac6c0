"""Edge cases found in review: each test fails without the fix it pins."""

from __future__ import annotations

import anyio
import anyio.lowlevel
import pytest

from actorlib import (
    Actor,
    ActorRef,
    ActorSystem,
    DeadLetter,
    Directive,
    Mailbox,
    MailboxFull,
    OneForOne,
    Overflow,
    Terminated,
)


class Recorder(Actor):
    """Collects every message it gets into a shared list; sets *arrived* on each."""

    def __init__(self, log: list[object], arrived: anyio.Event | None = None) -> None:
        self.log = log
        self.arrived = arrived

    async def receive(self, message: object) -> object:
        self.log.append(message)
        if self.arrived is not None:
            self.arrived.set()
        return None


class Hangs(Actor):
    """Blocks for ever on "hang"; records its on_stop."""

    def __init__(self, log: list[object], entered: anyio.Event) -> None:
        self.log = log
        self.entered = entered

    async def on_stop(self) -> None:
        self.log.append("stopped")

    async def receive(self, message: object) -> object:
        self.entered.set()
        await anyio.sleep_forever()
        return None


@pytest.mark.anyio
async def test_shutdown_timeout_cancels_a_handler_that_never_returns() -> None:
    log: list[object] = []
    entered = anyio.Event()
    started = anyio.current_time()
    with anyio.fail_after(5):
        async with ActorSystem("edge", shutdown_timeout=0.2) as system:
            ref = await system.spawn(Hangs, log, entered)
            ref.tell("hang")
            await entered.wait()
    assert anyio.current_time() - started < 3
    assert log == []  # it never got to stop gracefully


class StopsItself(Actor):
    async def receive(self, message: object) -> object:
        await self.context.system.stop(self.ref)
        return None


@pytest.mark.anyio
async def test_awaiting_stop_of_oneself_from_a_handler_raises_instead_of_hanging() -> None:
    async with ActorSystem("edge") as system:
        ref = await system.spawn(
            StopsItself, supervisor=OneForOne(decider=lambda e: Directive.RESUME)
        )
        with pytest.raises(RuntimeError, match="would wait for itself"):
            await ref.ask("go", timeout=2)


class StashThenFail(Actor):
    """Stashes "boom" and then fails; counts how often it sees it."""

    def __init__(self, seen: list[object]) -> None:
        self.seen = seen

    async def receive(self, message: object) -> object:
        self.seen.append(message)
        if message == "boom":
            self.context.stash()
            raise ValueError("boom")
        return message


@pytest.mark.anyio
async def test_a_message_that_stashed_itself_and_then_failed_is_not_retried() -> None:
    seen: list[object] = []
    async with ActorSystem("edge") as system:
        ref = await system.spawn(StashThenFail, seen)
        with pytest.raises(ValueError, match="boom"):
            await ref.ask("boom")
        assert await ref.ask("after") == "after"
    assert seen == ["boom", "after"]


class Gate(Actor):
    """Waits on an event while handling its first message."""

    def __init__(self, gate: anyio.Event, entered: anyio.Event) -> None:
        self.gate = gate
        self.entered = entered

    async def receive(self, message: object) -> object:
        if message == "block":
            self.entered.set()
            await self.gate.wait()
        return message


@pytest.mark.anyio
@pytest.mark.parametrize("overflow", [Overflow.DROP_NEWEST, Overflow.DROP_OLDEST])
async def test_an_ask_dropped_by_a_full_mailbox_fails_with_mailbox_full(
    overflow: Overflow,
) -> None:
    gate, entered = anyio.Event(), anyio.Event()
    async with ActorSystem("edge") as system:
        ref = await system.spawn(Gate, gate, entered, mailbox=Mailbox(1, overflow))
        ref.tell("block")
        await entered.wait()
        async with anyio.create_task_group() as tg:
            results: list[BaseException] = []

            async def ask(message: str) -> None:
                try:
                    await ref.ask(message, timeout=2)
                except MailboxFull as error:
                    results.append(error)

            tg.start_soon(ask, "first")
            await anyio.wait_all_tasks_blocked()
            tg.start_soon(ask, "second")
            await anyio.wait_all_tasks_blocked()
            gate.set()
        assert len(results) == 1
        assert "mailbox of /user/" in str(results[0])


class SlowEcho(Actor):
    def __init__(self, gate: anyio.Event) -> None:
        self.gate = gate

    async def receive(self, message: object) -> object:
        await self.gate.wait()
        return message


@pytest.mark.anyio
async def test_the_reply_to_a_cancelled_asker_becomes_a_dead_letter() -> None:
    gate, arrived = anyio.Event(), anyio.Event()
    letters: list[object] = []
    async with ActorSystem("edge") as system:
        recorder = await system.spawn(Recorder, letters, arrived)
        system.events.subscribe(recorder, DeadLetter)
        ref = await system.spawn(SlowEcho, gate)
        with anyio.move_on_after(0.05):
            await ref.ask("late", timeout=None)
        gate.set()
        with anyio.fail_after(5):
            await arrived.wait()
    assert isinstance(letters[0], DeadLetter)
    assert letters[0].message == "late"


class Fatal(BaseException):
    """Not an Exception: like KeyboardInterrupt, it must end the program."""


class RaisesFatal(Actor):
    async def receive(self, message: object) -> object:
        raise Fatal("stop everything")


@pytest.mark.anyio
async def test_a_base_exception_in_a_handler_ends_the_system_at_once() -> None:
    async def run_until_fatal() -> None:
        async with ActorSystem("edge") as system:
            ref = await system.spawn(RaisesFatal)
            ref.tell("go")
            await anyio.sleep_forever()

    started = anyio.current_time()
    with pytest.raises(BaseExceptionGroup) as caught:
        await run_until_fatal()
    assert caught.group_contains(Fatal)
    assert anyio.current_time() - started < 5


_init_calls = [0]


class FailsOnSecondInit(Actor):
    def __init__(self) -> None:
        _init_calls[0] += 1
        if _init_calls[0] == 2:
            raise RuntimeError("second __init__")
        self.generation = _init_calls[0]

    async def receive(self, message: object) -> object:
        if message == "fail":
            raise ValueError("handler")
        return self.generation


class ResumesEverything(Actor):
    supervisor_strategy = OneForOne(
        max_restarts=None,
        decider=lambda error: (
            Directive.RESUME if isinstance(error, RuntimeError) else Directive.RESTART
        ),
    )

    async def receive(self, message: object) -> object:
        return await self.context.spawn(FailsOnSecondInit)


@pytest.mark.anyio
async def test_resume_after_init_failed_in_a_restart_creates_a_fresh_instance() -> None:
    _init_calls[0] = 0
    async with ActorSystem("edge") as system:
        parent = await system.spawn(ResumesEverything)
        child: ActorRef[object] = await parent.ask("spawn")
        assert await child.ask("generation") == 1
        with pytest.raises(ValueError, match="handler"):
            await child.ask("fail")
        # restart -> __init__ #2 raises -> RESUME cannot resume a gone instance,
        # so a third __init__ makes a fresh one.
        assert await child.ask("generation") == 3


class Tagged(Actor):
    def __init__(self, tag: str, log: list[object]) -> None:
        self.tag = tag
        self.log = log

    async def on_stop(self) -> None:
        self.log.append(self.tag)

    async def receive(self, message: object) -> object:
        if isinstance(message, str):
            return await self.context.spawn(Tagged, message, self.log, name=message)
        return None


@pytest.mark.anyio
async def test_children_stop_youngest_first_and_before_their_parent() -> None:
    log: list[object] = []
    async with ActorSystem("edge") as system:
        parent = await system.spawn(Tagged, "parent", log)
        for tag in ("first", "second", "third"):
            await parent.ask(tag)
    assert log == ["third", "second", "first", "parent"]


@pytest.mark.anyio
async def test_an_event_refused_by_a_full_subscriber_becomes_a_dead_letter() -> None:
    gate, entered, arrived = anyio.Event(), anyio.Event(), anyio.Event()
    letters: list[object] = []
    async with ActorSystem("edge") as system:
        watcher = await system.spawn(Recorder, letters, arrived)
        full = await system.spawn(Gate, gate, entered, mailbox=Mailbox(1))
        full.tell("block")
        await entered.wait()
        full.tell("fills the mailbox")
        system.events.subscribe(full, str)
        system.events.subscribe(watcher, DeadLetter)
        system.events.publish("an event")
        with anyio.fail_after(5):
            await arrived.wait()
        gate.set()
    assert letters[0] == DeadLetter("an event", full, None)


def test_backoff_jitter_repeats_with_the_same_random_seed() -> None:
    from actorlib import Backoff

    backoff = Backoff(min=1.0, max=10.0, jitter=0.5)
    first = [backoff.delay(n, ActorSystem(random_seed=7).random) for n in range(4)]
    second = [backoff.delay(n, ActorSystem(random_seed=7).random) for n in range(4)]
    assert first == second
    assert len(set(first)) == 4


class FailsFirstStart(Actor):
    starts: list[str]

    def __init__(self, starts: list[str]) -> None:
        self.starts = starts

    async def on_restart(self, error: BaseException) -> None:
        self.starts.append(f"restart after {error}")

    async def on_start(self) -> None:
        self.starts.append("start")
        if len(self.starts) == 1:
            raise ValueError("first start")

    async def receive(self, message: object) -> object:
        return len(self.starts)


@pytest.mark.anyio
async def test_resume_of_an_actor_that_failed_in_on_start_restarts_it_as_akka_does() -> None:
    starts: list[str] = []
    async with ActorSystem("edge") as system:
        ref = await system.spawn(
            FailsFirstStart, starts, supervisor=OneForOne(decider=lambda e: Directive.RESUME)
        )
        assert await ref.ask("count") == 3
    assert starts == ["start", "restart after first start", "start"]


@pytest.mark.anyio
async def test_stopping_a_child_that_already_terminated_is_a_no_op() -> None:
    stopped = anyio.Event()

    class Parent(Actor):
        def __init__(self) -> None:
            self.child: ActorRef[object] | None = None

        async def receive(self, message: object) -> object:
            match message:
                case "spawn":
                    self.child = await self.context.spawn(Recorder, [], name="kid")
                    self.context.stop(self.child)
                case Terminated():
                    assert self.child is not None
                    self.context.stop(self.child)  # already gone: no error
                    stopped.set()
            return None

    async with ActorSystem("edge") as system:
        parent = await system.spawn(Parent)
        parent.tell("spawn")
        with anyio.fail_after(5):
            await stopped.wait()
        assert system.lookup("/user/$" + parent.name[1:] + "/kid") is None
        assert await parent.ask("still alive?") is None
