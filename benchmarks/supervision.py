"""Supervision scenario: workers under a OneForOne parent crash every k-th message and restart."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import cast

import anyio
import anyio.lowlevel
from anyio.streams.memory import MemoryObjectReceiveStream

from actorlib import Actor, ActorRef, ActorSystem, OneForOne
from benchmarks._raw import drain, send_round_robin
from benchmarks._scenario import Scenario
from benchmarks.peers import peers

WORKERS = 8
#: Every CRASH_EVERY-th message a worker handles in one incarnation raises.
CRASH_EVERY = 10
#: The sender yields to the event loop after this many rounds (1,024 tells).
YIELD_ROUNDS = 1024 // WORKERS


class Crash(Exception):
    """What a worker raises on its k-th message."""


def _describe(size: int) -> str:
    n = size // WORKERS
    return (
        f"{WORKERS} workers under a OneForOne parent x {n:,} tells each (round robin), "
        f"a crash and restart every {CRASH_EVERY}th message: "
        f"{WORKERS * n // CRASH_EVERY:,} restarts; restarts/s = msgs/s / {CRASH_EVERY}; "
        "the actorlib logger at CRITICAL (a restart otherwise logs its traceback)"
    )


class Tally:
    """Counts messages and restarts across incarnations; `done` is set at `expected` messages."""

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.messages = 0
        self.restarts = 0
        self.done = anyio.Event()

    def handled(self) -> None:
        self.messages += 1
        if self.messages == self.expected:
            self.done.set()


class _Worker(Actor):
    """Counts its messages; the `CRASH_EVERY`-th one of each incarnation raises `Crash`."""

    def __init__(self, tally: Tally) -> None:
        self.tally = tally
        self.count = 0

    async def on_restart(self, error: BaseException) -> None:
        self.tally.restarts += 1

    async def receive(self, message: object) -> object:
        self.tally.handled()
        self.count += 1
        if self.count == CRASH_EVERY:
            raise Crash(message)
        return None


class _Parent(Actor):
    """Spawns the workers and restarts each one that fails, however often."""

    supervisor_strategy = OneForOne(max_restarts=None)

    def __init__(self, tally: Tally) -> None:
        self.tally = tally

    async def receive(self, message: object) -> object:
        if message == "workers":
            return [await self.context.spawn(_Worker, self.tally) for _ in range(WORKERS)]
        return None


@contextmanager
def _quiet_actorlib() -> Iterator[None]:
    logger = logging.getLogger("actorlib")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


async def actorlib_supervision(size: int) -> float:
    """The benchmark task tells every worker in turn; seconds until all messages are handled."""
    n = size // WORKERS
    tally = Tally(WORKERS * n)
    with _quiet_actorlib():
        async with ActorSystem("bench-supervision") as system:
            parent = await system.spawn(_Parent, tally)
            workers = cast(list[ActorRef[int]], await parent.ask("workers"))
            sends = [worker.tell for worker in workers]
            elapsed = await send_round_robin(sends, n, YIELD_ROUNDS, tally.done)
    assert tally.restarts >= tally.expected // CRASH_EVERY - WORKERS, tally.restarts
    return elapsed * size / (WORKERS * n)


class RawWorker:
    """The raw worker's state: a fresh one replaces it after a crash."""

    def __init__(self, tally: Tally) -> None:
        self.tally = tally
        self.count = 0

    def handle(self, message: int) -> None:
        self.tally.handled()
        self.count += 1
        if self.count == CRASH_EVERY:
            raise Crash(message)


async def _raw_worker(inbox: MemoryObjectReceiveStream[int], tally: Tally) -> None:
    worker = RawWorker(tally)
    async for message in drain(inbox):
        try:
            worker.handle(message)
        except Crash:
            # The raw twin of a restart: a fresh state; the message is not retried
            # and the queued ones are kept, as actorlib's RESTART does.
            worker = RawWorker(tally)
            tally.restarts += 1


async def raw_supervision(size: int) -> float:
    """A task per worker drains its stream, catching each crash and starting on fresh state."""
    n = size // WORKERS
    tally = Tally(WORKERS * n)
    streams = [anyio.create_memory_object_stream[int](math.inf) for _ in range(WORKERS)]
    async with anyio.create_task_group() as tg:
        for _, inbox in streams:
            tg.start_soon(_raw_worker, inbox, tally)
        sends = [sender.send_nowait for sender, _ in streams]
        elapsed = await send_round_robin(sends, n, YIELD_ROUNDS, tally.done)
        for sender, _ in streams:
            sender.close()
    return elapsed * size / (WORKERS * n)


SCENARIOS = (
    Scenario(
        name="supervision",
        unit="msgs/s",
        size=100_000,
        describe=_describe,
        actorlib=actorlib_supervision,
        raw=raw_supervision,
        target=None,
        also=("restarts/s", 1 / CRASH_EVERY),
        peers=peers(
            "supervision",
            unable={
                "pykka": "no supervision: a Pykka actor whose on_receive raises stops "
                "(on_failure is its last hook); nothing restarts it",
                "thespian": "no restart on failure: Thespian retries the message once, "
                "then returns it to its sender as a PoisonMessage; the same instance carries on",
                "xoscar": "no supervision: an xoscar actor method's exception goes back to "
                "its caller; nothing restarts actors",
            },
        ),
    ),
)
