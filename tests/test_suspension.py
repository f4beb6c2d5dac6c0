"""never_suspends(): which handlers the runtime may run to their end in the asker's task."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable

import anyio
import anyio.lowlevel
import pytest

from actorlib._suspension import never_suspends


async def no_await(message: object) -> object:
    match message:
        case "one":
            return 1
    return [x * 2 for x in range(3)]


async def awaits(message: object) -> object:
    await anyio.lowlevel.checkpoint()
    return message


async def async_with(message: object) -> object:
    async with anyio.create_task_group():
        pass
    return message


async def _numbers() -> AsyncIterator[int]:
    yield 1


async def async_for(message: object) -> object:
    async for number in _numbers():
        return number
    return None


async def await_in_comprehension(message: object) -> object:
    return [await _answer(x) for x in range(2)]


async def _answer(value: int) -> int:
    return value


async def defines_an_awaiting_function(message: object) -> object:
    async def later() -> None:
        await anyio.lowlevel.checkpoint()

    return later  # defined here, awaited by someone else: not this frame's await


def sync_handler(message: object) -> object:
    return message


class Methods:
    async def plain(self, message: object) -> object:
        return message

    async def awaiting(self, message: object) -> object:
        await anyio.lowlevel.checkpoint()
        return message


class AsyncCallable:
    async def __call__(self, message: object) -> object:
        return message


def _returns_awaitable(message: object) -> object:
    return _answer(1)


@pytest.mark.parametrize(
    ("handler", "verdict"),
    [
        (no_await, True),
        (defines_an_awaiting_function, True),
        (Methods().plain, True),
        (awaits, False),
        (async_with, False),
        (async_for, False),
        (await_in_comprehension, False),
        (Methods().awaiting, False),
        (sync_handler, False),
        (_returns_awaitable, False),
        (AsyncCallable(), False),
        (functools.partial(no_await), False),
        (lambda message: no_await(message), False),
        (_numbers, False),
    ],
    ids=lambda value: getattr(value, "__name__", type(value).__name__),
)
def test_only_an_async_def_without_any_await_never_suspends(
    handler: Callable[[object], object], verdict: bool
) -> None:
    assert never_suspends(handler) is verdict
    assert never_suspends(handler) is verdict  # the cached verdict agrees
