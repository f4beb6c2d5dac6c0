"""Fibonacci scenario (Savina): fib(n) computed by one short-lived actor per recursive call."""

from __future__ import annotations

import time

import anyio
import anyio.abc
import attrs

from actorlib import Actor, ActorSystem, Terminated
from benchmarks._scenario import Scenario
from benchmarks.peers import savina_peers


def calls(n: int) -> int:
    """How many calls the naive recursion makes for fib(n): 2 fib(n + 1) - 1."""
    a, b = 0, 1
    for _ in range(n + 1):
        a, b = b, a + b
    return 2 * a - 1


def depth(size: int) -> int:
    """The largest n whose recursion makes at most `size` calls (at least 1)."""
    n = 1
    while calls(n + 1) <= size:
        n += 1
    return n


def fib(n: int) -> int:
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a


def _describe(size: int) -> str:
    n = depth(size)
    return f"fib({n}): {calls(n):,} calls, an actor (or task) per call, replies to its parent"


@attrs.define
class _Answer:
    """Where the root call puts fib(n); the benchmark waits on `ready`."""

    ready: anyio.Event = attrs.Factory(anyio.Event)
    value: int = 0


@attrs.frozen
class _Result:
    """A child's fib value, told to its parent."""

    value: int


class _Fib(Actor):
    """Computes fib(n): answers n < 2 at once, else spawns two children and adds their replies."""

    def __init__(self, answer: _Answer | None) -> None:
        self.answer = answer  # set on the root only: its parent is /user
        self.total = 0
        self.pending = 0

    def _reply(self, value: int) -> None:
        if self.answer is None:
            parent = self.context.parent
            assert parent is not None
            parent.tell(_Result(value))
        else:
            self.answer.value = value
            self.answer.ready.set()
        self.context.stop()

    async def receive(self, message: object) -> object:
        if isinstance(message, _Result):
            self.total += message.value
            self.pending -= 1
            if self.pending == 0:
                self._reply(self.total)
        elif isinstance(message, int):
            if message < 2:
                self._reply(message)
            else:
                self.pending = 2
                (await self.context.spawn(_Fib, None)).tell(message - 1)
                (await self.context.spawn(_Fib, None)).tell(message - 2)
        elif not isinstance(message, Terminated):  # each child stops after replying
            raise TypeError(f"unexpected message {message!r}")
        return None


def _per_size(size: int, n: int, elapsed: float) -> float:
    """Seconds for `size` calls at the rate measured on fib(n)'s calls(n) calls."""
    return elapsed * size / calls(n)


async def actorlib_fibonacci(size: int) -> float:
    """The root actor spawns a child per recursive call; each child tells its parent its result."""
    n = depth(size)
    answer = _Answer()
    async with ActorSystem("bench-fibonacci") as system:
        start = time.perf_counter()
        root = await system.spawn(_Fib, answer)
        root.tell(n)
        await answer.ready.wait()
        elapsed = time.perf_counter() - start
    assert answer.value == fib(n), (answer.value, n)
    return _per_size(size, n, elapsed)


class _Sum:
    """Where a raw call's children add their results; the last one wakes the parent.

    The raw twin of a reply: a value slot and an `anyio.Event`, the fastest
    request/reply of pingpong's raw ask (a memory stream pair per call costs
    about four times an Event to create and checkpoints on every receive).
    """

    def __init__(self, pending: int) -> None:
        self.total = 0
        self.pending = pending
        self.ready = anyio.Event()

    def add(self, value: int) -> None:
        self.total += value
        self.pending -= 1
        if self.pending == 0:
            self.ready.set()


async def _raw_fib(tg: anyio.abc.TaskGroup, n: int, parent: _Sum) -> None:
    if n < 2:
        parent.add(n)
        return
    children = _Sum(2)
    tg.start_soon(_raw_fib, tg, n - 1, children)
    tg.start_soon(_raw_fib, tg, n - 2, children)
    await children.ready.wait()
    parent.add(children.total)


async def raw_fibonacci(size: int) -> float:
    """A task per recursive call, started in one task group; each adds its result to its parent's.

    `start_soon` is anyio's only way to start a task, and costs tens of
    microseconds a task on asyncio (the task group's bookkeeping and cancel
    scope included): the raw side's main cost here, and why an actor, which
    is no task until it has work, spawns faster.
    """
    n = depth(size)
    root = _Sum(1)
    async with anyio.create_task_group() as tg:
        start = time.perf_counter()
        tg.start_soon(_raw_fib, tg, n, root)
        await root.ready.wait()
        elapsed = time.perf_counter() - start
    assert root.total == fib(n), (root.total, n)
    return _per_size(size, n, elapsed)


SCENARIOS = (
    Scenario(
        name="fibonacci",
        unit="calls/s",
        size=calls(14),
        describe=_describe,
        actorlib=actorlib_fibonacci,
        raw=raw_fibonacci,
        target=None,
        peers=savina_peers("fibonacci"),
    ),
)
