"""actorlib.run(): the same program on asyncio, trio and asyncio with uvloop."""

from __future__ import annotations

import asyncio
import sys

import pytest
import trio

import actorlib
from actorlib import Actor, ActorSystem


class Counter(Actor):
    def __init__(self, start: int = 0) -> None:
        self.count = start

    async def receive(self, message: object) -> object:
        match message:
            case "incr":
                self.count += 1
            case "get":
                return self.count
        return None


async def count_to(start: int, increments: int) -> tuple[int, str]:
    """Spawn a counter, tell it `increments` times, return its count and the event loop used."""
    async with ActorSystem("run") as system:
        counter = await system.spawn(Counter, start, name="counter")
        for _ in range(increments):
            counter.tell("incr")
        count = await counter.ask("get")
    return count, _event_loop()


def _event_loop() -> str:
    """The library running this task: asyncio, uvloop or trio."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return "trio" if trio.lowlevel.in_trio_run() else "unknown"
    return type(loop).__module__.split(".")[0]


def test_run_defaults_to_asyncio_and_returns_the_result() -> None:
    count, library = actorlib.run(count_to, 10, 5)
    assert count == 15
    assert library == "asyncio"


def test_run_on_asyncio() -> None:
    assert actorlib.run(count_to, 0, 3, backend="asyncio") == (3, "asyncio")


def test_run_on_trio() -> None:
    assert actorlib.run(count_to, 1, 2, backend="trio") == (3, "trio")


@pytest.mark.skipif(sys.platform == "win32", reason="uvloop does not support Windows")
def test_run_on_asyncio_with_uvloop() -> None:
    result = actorlib.run(count_to, 0, 4, backend="asyncio", backend_options={"use_uvloop": True})
    assert result == (4, "uvloop")


def test_run_leaves_no_system_behind_between_runs() -> None:
    for backend in ("asyncio", "trio", "asyncio"):
        assert actorlib.run(count_to, 0, 1, backend=backend) == (1, backend)
