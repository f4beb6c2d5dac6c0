"""Spawn scenarios: the rate of spawn + stop, and the RSS an idle actor costs."""

from __future__ import annotations

import gc
import math
import time

import anyio
import anyio.abc
import psutil
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from actorlib import Actor, ActorSystem
from benchmarks._scenario import Measure, RatioAtLeast, Scenario, ValueAtMost


class _Idle(Actor):
    """Does nothing but answer; its cost is the runtime's cost per actor."""

    async def receive(self, message: object) -> object:
        return message


async def actorlib_spawn_stop(actors: int) -> float:
    """Spawn `actors` actors one by one, then stop each and wait until it has terminated."""
    async with ActorSystem("bench-spawn") as system:
        start = time.perf_counter()
        refs = [await system.spawn(_Idle) for _ in range(actors)]
        for ref in refs:
            await system.stop(ref)
        return time.perf_counter() - start


async def _raw_actor(inbox: MemoryObjectReceiveStream[object], stopped: anyio.Event) -> None:
    try:
        async for _ in inbox:
            pass
    finally:
        stopped.set()


async def raw_spawn_stop(actors: int) -> float:
    """Start a task with its own stream per actor, then close each and wait for its task to end.

    The raw twin of `spawn` is `start_soon` (the stream is usable at once, as a
    ref is); the twin of `await stop(ref)` is closing the stream and awaiting an
    event the task sets on exit, since a task group cannot wait for one task.
    """
    handles: list[tuple[MemoryObjectSendStream[object], anyio.Event]] = []
    start = time.perf_counter()
    async with anyio.create_task_group() as tg:
        for _ in range(actors):
            sender, inbox = anyio.create_memory_object_stream[object](math.inf)
            stopped = anyio.Event()
            tg.start_soon(_raw_actor, inbox, stopped)
            handles.append((sender, stopped))
        for sender, stopped in handles:
            sender.close()
            await stopped.wait()
    return time.perf_counter() - start


def _rss() -> int:
    gc.collect()
    return int(psutil.Process().memory_info().rss)


async def actorlib_idle_memory(actors: int) -> float:
    """RSS bytes per idle actor with `actors` alive; run in a fresh interpreter."""
    async with ActorSystem("bench-memory") as system:
        # Warm up every code path once so its one-off allocations are not counted.
        warm = await system.spawn(_Idle)
        warm.tell(None)
        await warm.ask(None)
        await system.stop(warm)
        before = _rss()
        refs = [await system.spawn(_Idle) for _ in range(actors)]
        for ref in refs:
            # Each actor has started and handled a tell and an ask: it is idle,
            # not new. (An ask alone is answered in this task, without ever
            # creating the mailbox's user lane: about 750 bytes less.)
            ref.tell(None)
            await ref.ask(None)
        after = _rss()
        return (after - before) / actors


async def _start_raw_actors(
    tg: anyio.abc.TaskGroup, count: int
) -> list[MemoryObjectSendStream[object]]:
    """Start `count` task + stream pairs; return once each has handled one message."""
    handled = 0
    all_handled = anyio.Event()

    async def actor(inbox: MemoryObjectReceiveStream[object]) -> None:
        nonlocal handled
        async for _ in inbox:
            handled += 1
            if handled == count:
                all_handled.set()

    senders: list[MemoryObjectSendStream[object]] = []
    for _ in range(count):
        sender, inbox = anyio.create_memory_object_stream[object](math.inf)
        tg.start_soon(actor, inbox)
        sender.send_nowait(None)
        senders.append(sender)
    await all_handled.wait()
    return senders


async def raw_idle_memory(actors: int) -> float:
    """RSS bytes per idle task + unbounded memory stream with `actors` alive; fresh interpreter."""
    async with anyio.create_task_group() as tg:
        for sender in await _start_raw_actors(tg, 1):
            sender.close()
        before = _rss()
        senders = await _start_raw_actors(tg, actors)
        after = _rss()
        for sender in senders:
            sender.close()
    return (after - before) / actors


SCENARIOS = (
    Scenario(
        name="spawn-stop",
        unit="actors/s",
        size=5_000,
        describe=lambda size: f"spawn {size:,} actors, then stop each",
        actorlib=actorlib_spawn_stop,
        raw=raw_spawn_stop,
        target=RatioAtLeast(5),  # issue 18 (it was >= 30k actors/s)
    ),
    Scenario(
        name="idle-memory",
        unit="bytes/actor",
        size=100_000,
        describe=lambda size: (
            f"RSS delta with {size:,} idle actors alive, a fresh process, 1 run per backend"
        ),
        actorlib=actorlib_idle_memory,
        raw=raw_idle_memory,
        target=ValueAtMost(1024, "1 KiB"),  # issue 18 (it was 3 KiB)
        measure=Measure.AMOUNT,
        isolated=True,
        max_repeat=1,
    ),
)
