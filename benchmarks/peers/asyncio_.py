"""The scenarios on raw asyncio queues and tasks: what actorlib adds to plain asyncio.

Idiomatic asyncio, at its fastest: one unbounded `asyncio.Queue` per inbox,
`put_nowait` to send (the twin of `tell`, never blocks), `await get()` to
wait only when the queue is empty and `get_nowait` to drain what is queued
without yielding, and a bare `Future` as the one-shot reply slot of an ask.
These need an asyncio event loop (asyncio or uvloop), not trio.
"""

from __future__ import annotations

import asyncio
import time

from benchmarks.fanin import SENDERS, YIELD_EVERY
from benchmarks.forkjoin import WORKERS, YIELD_ROUNDS, Finished, per_worker, work
from benchmarks.ring import RING_SIZE
from benchmarks.supervision import WORKERS as SUPERVISED
from benchmarks.supervision import YIELD_ROUNDS as SUPERVISED_YIELD_ROUNDS
from benchmarks.supervision import Crash, RawWorker, Tally


async def tell(round_trips: int) -> float:
    """Two tasks bounce a counter over two queues; seconds for `round_trips` round trips."""
    done = asyncio.Event()
    ping_inbox: asyncio.Queue[int] = asyncio.Queue()
    pong_inbox: asyncio.Queue[int] = asyncio.Queue()

    async def ping() -> None:
        while True:
            count = await ping_inbox.get()
            if count >= round_trips:
                done.set()
                return
            pong_inbox.put_nowait(count + 1)

    async def pong() -> None:
        while True:
            ping_inbox.put_nowait(await pong_inbox.get())

    async with asyncio.TaskGroup() as tg:
        tg.create_task(ping())
        ponger = tg.create_task(pong())
        start = time.perf_counter()
        ping_inbox.put_nowait(0)
        await done.wait()
        elapsed = time.perf_counter() - start
        ponger.cancel()
    return elapsed


async def ask(requests: int) -> float:
    """The benchmark task awaits a future per request, answered by a server task."""
    loop = asyncio.get_running_loop()
    inbox: asyncio.Queue[tuple[int, asyncio.Future[int]]] = asyncio.Queue()

    async def serve() -> None:
        while True:
            request, reply = await inbox.get()
            reply.set_result(request)

    async with asyncio.TaskGroup() as tg:
        server = tg.create_task(serve())
        start = time.perf_counter()
        for i in range(requests):
            reply: asyncio.Future[int] = loop.create_future()
            inbox.put_nowait((i, reply))
            await reply
        elapsed = time.perf_counter() - start
        server.cancel()
    return elapsed


async def _put_many(inbox: asyncio.Queue[int], count: int) -> None:
    for i in range(count):
        inbox.put_nowait(i)
        if i % YIELD_EVERY == YIELD_EVERY - 1:
            await asyncio.sleep(0)  # let the other senders and the receiver in, as fanin does


async def _drain(inbox: asyncio.Queue[int], total: int) -> None:
    count = 0
    while count < total:
        await inbox.get()  # suspends only while the queue is empty
        count += 1
        while count < total:
            try:
                inbox.get_nowait()
            except asyncio.QueueEmpty:
                break
            count += 1


async def fanin(messages: int) -> float:
    """`SENDERS` tasks `put_nowait` into one queue; one task drains it."""
    per_sender = messages // SENDERS
    inbox: asyncio.Queue[int] = asyncio.Queue()
    start = time.perf_counter()
    async with asyncio.TaskGroup() as tg:
        tg.create_task(_drain(inbox, per_sender * SENDERS))
        for _ in range(SENDERS):
            tg.create_task(_put_many(inbox, per_sender))
    return time.perf_counter() - start


async def ring(hops: int) -> float:
    """`RING_SIZE` tasks, each reading its own queue and `put_nowait`-ing to the next one's."""
    done = asyncio.Event()
    inboxes: list[asyncio.Queue[int]] = [asyncio.Queue() for _ in range(RING_SIZE)]

    async def node(inbox: asyncio.Queue[int], successor: asyncio.Queue[int]) -> None:
        while True:
            hop = await inbox.get()
            if hop >= hops:
                done.set()
            else:
                successor.put_nowait(hop + 1)

    async with asyncio.TaskGroup() as tg:
        nodes = [
            tg.create_task(node(inbox, successor))
            for inbox, successor in zip(inboxes, inboxes[1:] + inboxes[:1], strict=True)
        ]
        await asyncio.sleep(0)  # every node runs up to its first get(), as raw_ring does
        start = time.perf_counter()
        inboxes[0].put_nowait(0)
        await done.wait()
        elapsed = time.perf_counter() - start
        for task in nodes:
            task.cancel()
    return elapsed


async def _fork_worker(inbox: asyncio.Queue[int], expected: int, finished: Finished) -> None:
    count = 0
    total = 0.0
    while count < expected:
        total += work(await inbox.get())  # suspends only while the queue is empty
        count += 1
        while count < expected:
            try:
                value = inbox.get_nowait()
            except asyncio.QueueEmpty:
                break
            total += work(value)
            count += 1
    finished.one_more()


async def forkjoin(size: int) -> float:
    """A task per worker drains its own queue; the sender `put_nowait`s round robin."""
    n = per_worker(size)
    finished = Finished()
    inboxes: list[asyncio.Queue[int]] = [asyncio.Queue() for _ in range(WORKERS)]
    async with asyncio.TaskGroup() as tg:
        for inbox in inboxes:
            tg.create_task(_fork_worker(inbox, n, finished))
        start = time.perf_counter()
        for i in range(n):
            for inbox in inboxes:
                inbox.put_nowait(i)
            if i % YIELD_ROUNDS == YIELD_ROUNDS - 1:
                await asyncio.sleep(0)
        await finished.done.wait()
        elapsed = time.perf_counter() - start
    return elapsed * size / (WORKERS * n)


async def _supervised_worker(inbox: asyncio.Queue[int], tally: Tally) -> None:
    worker = RawWorker(tally)
    while True:
        message = await inbox.get()
        try:
            worker.handle(message)
        except Crash:
            worker = RawWorker(tally)  # fresh state; the message is not retried
            tally.restarts += 1


async def supervision(size: int) -> float:
    """A task per worker reads its queue, catching each crash and starting on fresh state."""
    n = size // SUPERVISED
    tally = Tally(SUPERVISED * n)
    inboxes: list[asyncio.Queue[int]] = [asyncio.Queue() for _ in range(SUPERVISED)]
    async with asyncio.TaskGroup() as tg:
        tasks = [tg.create_task(_supervised_worker(inbox, tally)) for inbox in inboxes]
        start = time.perf_counter()
        for i in range(n):
            for inbox in inboxes:
                inbox.put_nowait(i)
            if i % SUPERVISED_YIELD_ROUNDS == SUPERVISED_YIELD_ROUNDS - 1:
                await asyncio.sleep(0)
        await tally.done.wait()
        elapsed = time.perf_counter() - start
        for task in tasks:
            task.cancel()
    return elapsed * size / (SUPERVISED * n)
