"""The scenarios on xoscar: actors in a main actor pool in this process (``n_process=0``).

xoscar is built on asyncio (its pools, channels and local calls use asyncio
tasks, futures and locks), so it runs on an asyncio event loop (asyncio or
uvloop) only, not on trio. Its documented API: `xo.create_actor_pool` starts a pool,
`xo.create_actor` spawns an actor in it, and a method is invoked through a ref
as ``await ref.method(...)`` (send: wait for the result) or
``await ref.method.tell(...)`` (tell: one-way, no response awaited).

Its fastest way in one process is a *local* ref: `xo.actor_ref` on an actor
that lives in this process returns a `LocalActorRef`, whose calls run the
method directly (send) or as a new asyncio task (tell) instead of building a
message for the pool's channel. The ref `create_actor` returns goes through
that channel and measured about 16x slower on ask, so every actor here is
reached through `xo.actor_ref`, and inside actors through `self.ref()`, which
is local too. Actors are plain stateful `xo.Actor`s, whose method bodies run
under a per-actor lock: `xo.StatelessActor` drops the lock (some 5-10% faster
here) but is documented for actors without state, and these all keep some.
Batch methods (`@xo.extensible`) are left out, as they merge many calls into
one and so change the work being measured.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import xoscar as xo

from benchmarks.fanin import SENDERS
from benchmarks.forkjoin import WORKERS as FORK_WORKERS
from benchmarks.forkjoin import Finished, per_worker, work
from benchmarks.ring import RING_SIZE

#: Bound on every wait, so a lost message fails the run instead of hanging it.
WAIT_SECONDS = 300.0


@asynccontextmanager
async def _pool() -> AsyncIterator[str]:
    """A main actor pool in this process (no subprocesses); yields its address."""
    pool = await xo.create_actor_pool("127.0.0.1", n_process=0)
    async with pool:
        yield pool.external_address


async def _spawn(address: str, actor_cls: type[xo.Actor], *args: object) -> Any:
    """Create an actor with `xo.create_actor`, then take its local ref with `xo.actor_ref`."""
    return await xo.actor_ref(await xo.create_actor(actor_cls, *args, address=address))


async def _wait(done: asyncio.Event) -> None:
    async with asyncio.timeout(WAIT_SECONDS):
        await done.wait()


class _Ping(xo.Actor):
    """Tells the round-trip count to `pong` until it reaches `round_trips`."""

    def __init__(self, round_trips: int, done: asyncio.Event) -> None:
        super().__init__()
        self.round_trips = round_trips
        self.done = done

    async def ball(self, count: int, pong: Any) -> None:
        if count >= self.round_trips:
            self.done.set()
        else:
            await pong.ball.tell(count + 1, self.ref())


class _Pong(xo.Actor):
    """Tells every count back to the ref it came with."""

    async def ball(self, count: int, ping: Any) -> None:
        await ping.ball.tell(count, self.ref())


async def tell(round_trips: int) -> float:
    """Two actors bounce a counter with `ref.method.tell`; seconds for `round_trips` round trips.

    `tell` on a local ref is xoscar's one-way send: it starts the method as an
    asyncio task and returns without a response, the fastest documented call.
    """
    done = asyncio.Event()
    async with _pool() as address:
        ping = await _spawn(address, _Ping, round_trips, done)
        pong = await _spawn(address, _Pong)
        start = time.perf_counter()
        await ping.ball.tell(0, pong)
        await _wait(done)
        return time.perf_counter() - start


class _Echo(xo.Actor):
    """Answers every call with its argument."""

    def echo(self, message: int) -> int:
        return message


async def ask(requests: int) -> float:
    """The benchmark task awaits ``ref.echo(i)`` (send) `requests` times, in turn.

    Awaiting the method on a local ref is xoscar's request-response call at its
    fastest: the method runs under the actor's lock and its result comes back
    directly, with no message or channel in between.
    """
    async with _pool() as address:
        echo = await _spawn(address, _Echo)
        start = time.perf_counter()
        for i in range(requests):
            if await echo.echo(i) != i:
                raise RuntimeError(f"echo did not answer {i}")
        return time.perf_counter() - start


class _Counter(xo.Actor):
    """Counts messages and sets `done` when `total` have arrived."""

    def __init__(self, total: int, done: asyncio.Event) -> None:
        super().__init__()
        self.total = total
        self.done = done
        self.count = 0

    def receive(self, message: int) -> None:
        self.count += 1
        if self.count == self.total:
            self.done.set()


async def _tell_many(counter: Any, count: int) -> None:
    for i in range(count):
        await counter.receive.tell(i)  # yields to the loop on every tell


async def fanin(messages: int) -> float:
    """`SENDERS` tasks `tell` one counting actor `messages // SENDERS` times each.

    One-way `ref.method.tell` on a local ref, as in ping-pong tell: xoscar's
    fastest documented send. Each tell already yields to the event loop, so the
    senders and the counter interleave without extra yields.
    """
    per_sender = messages // SENDERS
    done = asyncio.Event()
    async with _pool() as address:
        counter = await _spawn(address, _Counter, per_sender * SENDERS, done)
        start = time.perf_counter()
        async with asyncio.TaskGroup() as tg:
            for _ in range(SENDERS):
                tg.create_task(_tell_many(counter, per_sender))
        await _wait(done)
        return time.perf_counter() - start


class _Node(xo.Actor):
    """Tells the token (its hop count) to the next node until `hops` is reached."""

    def __init__(self, hops: int, done: asyncio.Event) -> None:
        super().__init__()
        self.hops = hops
        self.done = done
        self.next: Any = None

    def link(self, successor: Any) -> None:
        self.next = successor

    async def token(self, hop: int) -> None:
        if hop >= self.hops:
            self.done.set()
        else:
            await self.next.token.tell(hop + 1)


async def ring(hops: int) -> float:
    """`RING_SIZE` actors, each knowing the next; seconds for `hops` hops of `tell`.

    The token moves with one-way `ref.method.tell` on local refs, xoscar's
    fastest documented send; the links are set with awaited calls beforehand.
    """
    done = asyncio.Event()
    async with _pool() as address:
        nodes = [await _spawn(address, _Node, hops, done) for _ in range(RING_SIZE)]
        for node, successor in zip(nodes, nodes[1:] + nodes[:1], strict=True):
            await node.link(successor)
        start = time.perf_counter()
        await nodes[0].token.tell(0)
        await _wait(done)
        return time.perf_counter() - start


class _ForkWorker(xo.Actor):
    """Does `work` on each number; tells `finished` after `expected` numbers."""

    def __init__(self, expected: int, finished: Finished) -> None:
        super().__init__()
        self.expected = expected
        self.finished = finished
        self.count = 0
        self.total = 0.0

    def receive(self, value: int) -> None:
        self.total += work(value)
        self.count += 1
        if self.count == self.expected:
            self.finished.one_more()


async def forkjoin(size: int) -> float:
    """The benchmark task tells each worker in turn with one-way `ref.method.tell`, round robin.

    Each tell already yields to the event loop, so no extra yields are needed.
    """
    n = per_worker(size)
    finished = Finished()
    async with _pool() as address:
        workers = [await _spawn(address, _ForkWorker, n, finished) for _ in range(FORK_WORKERS)]
        start = time.perf_counter()
        for i in range(n):
            for worker in workers:
                await worker.receive.tell(i)
        async with asyncio.timeout(WAIT_SECONDS):
            await finished.done.wait()
        elapsed = time.perf_counter() - start
    return elapsed * size / (FORK_WORKERS * n)
