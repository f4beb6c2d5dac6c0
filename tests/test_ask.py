"""ask(): replies, re-raised handler errors, timeouts, and asks that can never be answered."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import anyio
import pytest

from actorlib import (
    Actor,
    ActorError,
    ActorRef,
    ActorStopped,
    ActorSystem,
    AskTimeout,
    Failure,
    PoisonPill,
)


class Boom(Exception):
    """A distinctive handler failure."""


@dataclass(frozen=True)
class Hang:
    """Answered only once the service's `release` event is set."""


@dataclass(frozen=True)
class Relay:
    """Ask `target` the `inner` message from inside a handler; return its answer, tagged."""

    target: ActorRef[object]
    inner: object


class Service(Actor):
    """Echoes, fails, hangs or sleeps on request."""

    def __init__(
        self, release: anyio.Event | None = None, entered: anyio.Event | None = None
    ) -> None:
        self.release = release
        self.entered = entered

    async def receive(self, message: object) -> object:
        match message:
            case ("echo", value):
                return value
            case ("explode", detail):
                raise Boom(detail)
            case ("sleep", seconds):
                assert isinstance(seconds, float)
                await anyio.sleep(seconds)
                return "slept"
            case Hang():
                assert self.release is not None
                if self.entered is not None:
                    self.entered.set()
                await self.release.wait()
                return "late"
            case Relay(target, inner):
                return ("relayed", await target.ask(inner))
            case _:
                return None


@pytest.mark.anyio
async def test_ask_returns_the_handler_return_value() -> None:
    async with ActorSystem("ask") as system:
        ref = await system.spawn(Service)
        assert await ref.ask(("echo", 42)) == 42
        assert await ref.ask(("echo", [1, "two"])) == [1, "two"]
        assert await ref.ask("unknown") is None


@pytest.mark.anyio
async def test_ask_reraises_the_handler_error_with_a_note_naming_actor_and_message() -> None:
    async with ActorSystem("ask") as system:
        ref = await system.spawn(Service, name="svc")
        with pytest.raises(Boom, match="disk on fire") as excinfo:
            await ref.ask(("explode", "disk on fire"))
        assert type(excinfo.value) is Boom
        notes = "\n".join(getattr(excinfo.value, "__notes__", []))
        assert ref.path in notes
        assert "explode" in notes


@pytest.mark.anyio
async def test_actor_answers_again_after_a_handler_exception() -> None:
    async with ActorSystem("ask") as system:
        ref = await system.spawn(Service)
        with pytest.raises(Boom):
            await ref.ask(("explode", "once"))
        assert await ref.ask(("echo", "still here")) == "still here"


@pytest.mark.anyio
async def test_ask_timeout_names_the_actor_the_message_type_and_the_timeout() -> None:
    async with ActorSystem("ask") as system:
        release = anyio.Event()
        ref = await system.spawn(Service, release, name="sleepy")
        with anyio.fail_after(5), pytest.raises(AskTimeout) as excinfo:
            await ref.ask(Hang(), timeout=0.05)
        release.set()
        error = excinfo.value
        assert isinstance(error, ActorError)
        assert isinstance(error, TimeoutError)
        text = str(error)
        assert ref.path in text
        assert "Hang" in text
        assert "0.05" in text
        # The late reply to the timed-out ask is discarded; the actor carries on.
        assert await ref.ask(("echo", "after")) == "after"


@pytest.mark.anyio
async def test_ask_uses_the_system_default_timeout() -> None:
    async with ActorSystem("ask", ask_timeout=0.05) as system:
        release = anyio.Event()
        ref = await system.spawn(Service, release)
        with anyio.fail_after(5), pytest.raises(AskTimeout, match=r"0\.05"):
            await ref.ask(Hang())
        release.set()


@pytest.mark.anyio
async def test_a_shorter_per_call_timeout_overrides_the_system_default() -> None:
    async with ActorSystem("ask", ask_timeout=60.0) as system:
        release = anyio.Event()
        ref = await system.spawn(Service, release)
        with anyio.fail_after(5), pytest.raises(AskTimeout, match=r"0\.05"):
            await ref.ask(Hang(), timeout=0.05)
        release.set()


@pytest.mark.anyio
async def test_a_longer_or_no_per_call_timeout_overrides_the_system_default() -> None:
    # The handler's sleep is the delay under test: longer than the system default.
    async with ActorSystem("ask", ask_timeout=0.01) as system:
        ref = await system.spawn(Service)
        assert await ref.ask(("sleep", 0.1), timeout=5.0) == "slept"
        assert await ref.ask(("sleep", 0.1), timeout=None) == "slept"


@pytest.mark.anyio
async def test_ask_to_a_stopped_actor_fails_at_once_with_actor_stopped() -> None:
    async with ActorSystem("ask", ask_timeout=60.0) as system:
        ref = await system.spawn(Service, name="gone")
        await system.stop(ref)
        with anyio.fail_after(1):
            with pytest.raises(ActorStopped, match=re.escape(ref.path)):
                await ref.ask(("echo", 1))
            with pytest.raises(ActorStopped):
                await ref.ask(("echo", 1), timeout=None)


@pytest.mark.anyio
async def test_ask_queued_behind_a_poison_pill_fails_with_actor_stopped() -> None:
    async with ActorSystem("ask", ask_timeout=60.0) as system:
        release, entered = anyio.Event(), anyio.Event()
        ref = await system.spawn(Service, release, entered)
        outcome: list[BaseException] = []

        async def ask_late() -> None:
            try:
                await ref.ask(("echo", "too late"))
            except ActorStopped as error:
                outcome.append(error)

        with anyio.fail_after(5):
            ref.tell(Hang())
            await entered.wait()
            ref.tell(PoisonPill())
            async with anyio.create_task_group() as tg:
                tg.start_soon(ask_late)
                # The ask is queued behind the PoisonPill before the actor moves on.
                await anyio.wait_all_tasks_blocked()
                release.set()
        assert len(outcome) == 1


@pytest.mark.anyio
async def test_ask_queued_when_the_actor_is_stopped_fails_with_actor_stopped() -> None:
    async with ActorSystem("ask", ask_timeout=60.0) as system:
        release, entered = anyio.Event(), anyio.Event()
        ref = await system.spawn(Service, release, entered)
        outcome: list[BaseException] = []

        async def ask_queued() -> None:
            try:
                await ref.ask(("echo", "queued"))
            except ActorStopped as error:
                outcome.append(error)

        with anyio.fail_after(5):
            ref.tell(Hang())
            await entered.wait()
            async with anyio.create_task_group() as tg:
                tg.start_soon(ask_queued)
                await anyio.wait_all_tasks_blocked()
                tg.start_soon(system.stop, ref)
                await anyio.wait_all_tasks_blocked()
                release.set()
        assert len(outcome) == 1


@pytest.mark.anyio
@pytest.mark.parametrize(("timeout", "shown"), [(-1.0, "-1"), (math.nan, "nan")])
async def test_ask_rejects_a_negative_or_nan_timeout_naming_the_value(
    timeout: float, shown: str
) -> None:
    async with ActorSystem("ask") as system:
        ref = await system.spawn(Service)
        with pytest.raises(ValueError, match=shown):
            await ref.ask(("echo", 1), timeout=timeout)
        assert await ref.ask(("echo", 2)) == 2


@pytest.mark.anyio
async def test_an_actor_can_ask_another_actor_from_inside_its_handler() -> None:
    async with ActorSystem("ask") as system:
        first = await system.spawn(Service)
        second = await system.spawn(Service)
        third = await system.spawn(Service)
        with anyio.fail_after(5):
            assert await first.ask(Relay(second, ("echo", 7))) == ("relayed", 7)
            # A chain of nested asks: first -> second -> third.
            chain = Relay(second, Relay(third, ("echo", 8)))
            assert await first.ask(chain) == ("relayed", ("relayed", 8))


@pytest.mark.anyio
async def test_many_concurrent_asks_each_get_their_own_reply() -> None:
    async with ActorSystem("ask") as system:
        ref = await system.spawn(Service)
        replies: dict[int, object] = {}

        async def ask_one(i: int) -> None:
            replies[i] = await ref.ask(("echo", i))

        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:
                for i in range(200):
                    tg.start_soon(ask_one, i)
        assert replies == {i: i for i in range(200)}


class Strict(Actor):
    """Refuses negative amounts with a Failure; keeps a running total."""

    def __init__(self) -> None:
        self.total = 0
        self.starts = 0

    async def on_start(self) -> None:
        self.starts += 1

    async def receive(self, message: object) -> object:
        match message:
            case int(amount) if amount < 0:
                return Failure(ValueError(f"amount must be >= 0, got {amount}"))
            case int(amount):
                self.total += amount
                return self.total
            case "starts":
                return self.starts
        return None


@pytest.mark.anyio
async def test_a_failure_reply_raises_in_the_asker_and_the_actor_carries_on_unrestarted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with ActorSystem("ask") as system:
        ref = await system.spawn(Strict)
        assert await ref.ask(5) == 5
        with pytest.raises(ValueError, match="amount must be >= 0, got -3") as refused:
            await ref.ask(-3)
        assert any("refused by actor /user/" in note for note in refused.value.__notes__)
        assert await ref.ask(2) == 7  # same instance, same state
        assert await ref.ask("starts") == 1
        ref.tell(-1)  # nobody to tell: logged
        assert await ref.ask(0) == 7
    assert "refused -1, with no asker to tell: ValueError(" in caplog.text


def test_failure_wraps_only_exceptions() -> None:
    with pytest.raises(TypeError, match=r"Failure\(\) expects an exception to raise in the asker"):
        Failure("no")  # type: ignore[arg-type]
