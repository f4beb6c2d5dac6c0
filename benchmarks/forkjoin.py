"""Fork-join throughput (Savina): one sender tells each of K workers N messages, each a tiny sum."""

from __future__ import annotations

import math

import anyio
import anyio.lowlevel
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from actorlib import Actor, ActorRef, ActorSystem
from benchmarks._raw import drain, send_round_robin
from benchmarks._scenario import Scenario
from benchmarks.peers import peers

WORKERS = 32
#: The sender yields to the event loop after this many rounds (1,024 tells, as
#: fan-in's senders do every 1,000), so the workers drain while it sends.
YIELD_ROUNDS = 32


def work(value: int) -> float:
    """Savina's per-message computation, a tiny bit of arithmetic: sin(x)^2 + cos(x)^2."""
    sine, cosine = math.sin(value), math.cos(value)
    return sine * sine + cosine * cosine


def per_worker(size: int) -> int:
    """Messages each worker receives: `size` counts every message to every worker."""
    return max(1, size // WORKERS)


def _describe(size: int) -> str:
    n = per_worker(size)
    return (
        f"1 sender, {WORKERS} workers x {n:,} tells each (round robin, "
        f"{WORKERS * n:,} msgs), a sin/cos sum per message"
    )


class Finished:
    """Counts the workers that have handled all their messages; `done` is set when all have."""

    def __init__(self) -> None:
        self.workers = 0
        self.done = anyio.Event()

    def one_more(self) -> None:
        self.workers += 1
        if self.workers == WORKERS:
            self.done.set()


class _Worker(Actor):
    """Does `work` on each message; reports to `finished` after `expected` messages."""

    def __init__(self, expected: int, finished: Finished) -> None:
        self.expected = expected
        self.finished = finished
        self.count = 0
        self.total = 0.0

    async def receive(self, message: object) -> object:
        assert isinstance(message, int)
        self.total += work(message)
        self.count += 1
        if self.count == self.expected:
            self.finished.one_more()
        return None


async def actorlib_forkjoin(size: int) -> float:
    """The benchmark task tells every worker in turn, `per_worker(size)` rounds."""
    n = per_worker(size)
    finished = Finished()
    async with ActorSystem("bench-forkjoin") as system:
        workers: list[ActorRef[int]] = [
            await system.spawn(_Worker, n, finished) for _ in range(WORKERS)
        ]
        sends = [worker.tell for worker in workers]
        elapsed = await send_round_robin(sends, n, YIELD_ROUNDS, finished.done)
    return elapsed * size / (WORKERS * n)


async def _raw_worker(inbox: MemoryObjectReceiveStream[int], expected: int, done: Finished) -> None:
    count = 0
    total = 0.0
    async for value in drain(inbox):
        total += work(value)
        count += 1
        if count == expected:
            done.one_more()
            return


async def raw_forkjoin(size: int) -> float:
    """A task per worker drains its own stream; the sender `send_nowait`s round robin."""
    n = per_worker(size)
    finished = Finished()
    streams = [anyio.create_memory_object_stream[int](math.inf) for _ in range(WORKERS)]
    senders: list[MemoryObjectSendStream[int]] = [sender for sender, _ in streams]
    async with anyio.create_task_group() as tg:
        for _, inbox in streams:
            tg.start_soon(_raw_worker, inbox, n, finished)
        sends = [sender.send_nowait for sender in senders]
        elapsed = await send_round_robin(sends, n, YIELD_ROUNDS, finished.done)
        for sender in senders:
            sender.close()
    return elapsed * size / (WORKERS * n)


SCENARIOS = (
    Scenario(
        name="forkjoin",
        unit="msgs/s",
        size=64_000,
        describe=_describe,
        actorlib=actorlib_forkjoin,
        raw=raw_forkjoin,
        target=None,
        peers=peers("forkjoin"),
    ),
)
