"""Bad input is refused early with errors that name the offender and say what to pass."""

from __future__ import annotations

import math
from typing import Any

import pytest

from actorlib import (
    Actor,
    ActorError,
    ActorSystem,
    Backoff,
    Mailbox,
    NameTaken,
    OneForAll,
    OneForOne,
    RestForOne,
    SupervisorStrategy,
)


class Counter(Actor):
    """A well-formed actor with one required and one optional argument."""

    def __init__(self, start: int, *, step: int = 1) -> None:
        self.count = start
        self.step = step

    async def receive(self, message: object) -> object:
        if message == "incr":
            self.count += self.step
        return self.count


class Parent(Actor):
    """Spawns a Counter child under the given name."""

    async def receive(self, message: object) -> object:
        assert isinstance(message, str)
        return await self.context.spawn(Counter, 0, name=message)


class SyncReceive(Actor):
    def receive(self, message: object) -> object:  # type: ignore[override]
        return message


class NoReceive(Actor):
    """Forgets to implement receive."""


class NotAnActor:
    async def receive(self, message: object) -> object:
        return message


class BrokenInit(Actor):
    def __init__(self) -> None:
        raise ZeroDivisionError("broken on purpose")

    async def receive(self, message: object) -> object:
        return message


def plain_function() -> None:
    """Not a class at all."""


@pytest.mark.anyio
async def test_spawn_of_an_instance_says_to_pass_the_class() -> None:
    async with ActorSystem("spawn") as system:
        with pytest.raises(TypeError, match="pass the class"):
            await system.spawn(Counter(0))  # type: ignore[call-overload]


@pytest.mark.anyio
@pytest.mark.parametrize("bad", [plain_function, 42, "Counter", NotAnActor, dict])
async def test_spawn_of_something_that_is_not_an_actor_class_raises_type_error(
    bad: object,
) -> None:
    async with ActorSystem("spawn") as system:
        with pytest.raises(TypeError, match="Actor"):
            await system.spawn(bad)  # type: ignore[call-overload]


@pytest.mark.anyio
async def test_spawn_of_a_class_whose_receive_is_not_async_raises_type_error() -> None:
    async with ActorSystem("spawn") as system:
        with pytest.raises(TypeError, match="async def"):
            await system.spawn(SyncReceive)


@pytest.mark.anyio
async def test_a_class_checked_once_is_checked_again_when_its_receive_changes() -> None:
    class Patched(Actor):
        async def receive(self, message: object) -> object:
            return message

    def plain(self: Actor, message: object) -> object:
        return message

    async with ActorSystem("spawn") as system:
        await system.spawn(Patched)
        Patched.receive = plain  # type: ignore[assignment,method-assign]
        with pytest.raises(TypeError, match=r"Patched\.receive must be a coroutine function"):
            await system.spawn(Patched)


@pytest.mark.anyio
async def test_spawn_of_a_class_without_receive_raises_type_error() -> None:
    async with ActorSystem("spawn") as system:
        with pytest.raises(TypeError, match="receive"):
            await system.spawn(NoReceive)
        with pytest.raises(TypeError, match="receive"):
            await system.spawn(Actor)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        ((), {}),  # missing a required argument
        ((1, 2), {}),  # too many positional arguments
        ((1,), {"stride": 2}),  # unknown keyword
    ],
)
async def test_spawn_checks_constructor_arguments_against_the_signature(
    args: tuple[object, ...], kwargs: dict[str, Any]
) -> None:
    async with ActorSystem("spawn") as system:
        with pytest.raises(TypeError):
            # Bad arguments on purpose: mypy rejects them too (tests/typing).
            await system.spawn(Counter, *args, name="counter", **kwargs)  # type: ignore[arg-type]
        # Nothing was registered: the name is still free.
        assert system.lookup("/user/counter") is None
        ref = await system.spawn(Counter, 5, name="counter", step=2)
        assert await ref.ask("incr") == 7


@pytest.mark.anyio
async def test_an_exception_from_init_propagates_from_spawn_and_registers_nothing() -> None:
    async with ActorSystem("spawn") as system:
        with pytest.raises(ZeroDivisionError, match="broken on purpose"):
            await system.spawn(BrokenInit, name="broken")
        assert system.lookup("/user/broken") is None
        await system.spawn(Counter, 0, name="broken")


@pytest.mark.anyio
@pytest.mark.parametrize("name", ["", "a/b", "has space", "$dollar", "tab\t", "a\nb"])
async def test_spawn_rejects_an_invalid_name_naming_it(name: str) -> None:
    async with ActorSystem("spawn") as system:
        with pytest.raises(ValueError, match="name"):
            await system.spawn(Counter, 0, name=name)


@pytest.mark.anyio
async def test_spawn_rejects_a_name_that_is_not_a_string() -> None:
    async with ActorSystem("spawn") as system:
        with pytest.raises((TypeError, ValueError), match="42"):
            await system.spawn(Counter, 0, name=42)  # type: ignore[call-arg]


@pytest.mark.anyio
@pytest.mark.parametrize("name", ["a", "A-b_c.9", "0", "account-1"])
async def test_spawn_accepts_letters_digits_dashes_underscores_and_dots(name: str) -> None:
    async with ActorSystem("spawn") as system:
        ref = await system.spawn(Counter, 0, name=name)
        assert ref.name == name
        assert ref.path == f"/user/{name}"


@pytest.mark.anyio
async def test_a_duplicate_sibling_name_raises_name_taken_an_actor_and_value_error() -> None:
    async with ActorSystem("spawn") as system:
        await system.spawn(Counter, 0, name="twin")
        with pytest.raises(NameTaken, match="twin") as excinfo:
            await system.spawn(Counter, 1, name="twin")
        assert isinstance(excinfo.value, ActorError)
        assert isinstance(excinfo.value, ValueError)


@pytest.mark.anyio
async def test_a_duplicate_child_name_raises_name_taken_but_cousins_may_share_names() -> None:
    async with ActorSystem("spawn") as system:
        first = await system.spawn(Parent, name="first")
        second = await system.spawn(Parent, name="second")
        await first.ask("kid")
        await second.ask("kid")  # same name under another parent is fine
        with pytest.raises(NameTaken, match="kid"):
            await first.ask("kid")


@pytest.mark.anyio
async def test_a_name_is_free_again_once_its_actor_has_stopped() -> None:
    async with ActorSystem("spawn") as system:
        old = await system.spawn(Counter, 0, name="reused")
        await system.stop(old)
        new = await system.spawn(Counter, 10, name="reused")
        assert new != old
        assert await new.ask("get") == 10


@pytest.mark.parametrize(
    ("options", "shown"),
    [
        ({"ask_timeout": -1.0}, "-1"),
        ({"ask_timeout": math.nan}, "nan"),
        ({"throughput": 0}, "throughput"),
        ({"throughput": -5}, "-5"),
    ],
)
def test_actor_system_rejects_bad_options_naming_the_value(
    options: dict[str, object], shown: str
) -> None:
    with pytest.raises(ValueError, match=shown):
        ActorSystem("bad", **options)  # type: ignore[arg-type]


@pytest.mark.parametrize(("capacity", "shown"), [(0, "0"), (-3, "-3")])
def test_mailbox_rejects_a_capacity_below_one_naming_the_value(capacity: int, shown: str) -> None:
    with pytest.raises(ValueError, match=shown):
        Mailbox(capacity=capacity)


@pytest.mark.parametrize("strategy", [OneForOne, OneForAll, RestForOne])
@pytest.mark.parametrize(
    ("options", "shown"),
    [
        ({"max_restarts": -1}, "-1"),
        ({"within": -2.0}, "-2"),
        ({"within": math.nan}, "nan"),
    ],
)
def test_strategies_reject_negative_or_nan_restart_limits_naming_the_value(
    strategy: type[SupervisorStrategy], options: dict[str, object], shown: str
) -> None:
    with pytest.raises(ValueError, match=shown):
        strategy(**options)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("options", "shown"),
    [
        ({"min": -1.0, "max": 1.0}, "-1"),
        ({"min": math.nan, "max": 1.0}, "nan"),
        ({"min": 0.1, "max": -4.0}, "-4"),
        ({"min": 2.0, "max": 1.0}, "max"),
        ({"min": 0.1, "max": 1.0, "factor": 0.5}, "0.5"),
        ({"min": 0.1, "max": 1.0, "factor": math.nan}, "nan"),
        ({"min": 0.1, "max": 1.0, "jitter": 1.5}, "1.5"),
        ({"min": 0.1, "max": 1.0, "jitter": -0.1}, "-0.1"),
        ({"min": 0.1, "max": 1.0, "reset_after": -7.0}, "-7"),
    ],
)
def test_backoff_rejects_bad_bounds_naming_the_value(options: dict[str, float], shown: str) -> None:
    with pytest.raises(ValueError, match=shown):
        Backoff(**options)
