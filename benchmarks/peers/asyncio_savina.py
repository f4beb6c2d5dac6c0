"""The Savina scenarios (fibonacci, big, chameneos, bank) on raw asyncio tasks, queues, futures.

As in `benchmarks.peers.asyncio_`: one unbounded `asyncio.Queue` per inbox,
`put_nowait` to send, `get_nowait` to drain and `await get()` only when empty,
a bare `Future` as the one-shot reply slot, and `asyncio.create_task` (far
cheaper than an anyio task group's `start_soon`) for a task per actor. The
framework-free limit at the asyncio level; asyncio or uvloop only.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator
from typing import TypeVar

from benchmarks import bank as _bank
from benchmarks import big as _big
from benchmarks import chameneos as _chameneos
from benchmarks import fibonacci as _fibonacci

T = TypeVar("T")


async def _drain(inbox: asyncio.Queue[T]) -> AsyncIterator[T]:
    """Every item of `inbox`, for ever, suspending only while it is empty."""
    while True:
        yield await inbox.get()
        while True:
            try:
                item = inbox.get_nowait()
            except asyncio.QueueEmpty:
                break
            yield item


# Fibonacci


async def _fib(n: int) -> int:
    if n < 2:
        return n
    left = asyncio.create_task(_fib(n - 1))
    right = asyncio.create_task(_fib(n - 2))
    return await left + await right


async def fibonacci(size: int) -> float:
    """A task per recursive call; the parent awaits both children's tasks."""
    n = _fibonacci.depth(size)
    start = time.perf_counter()
    value = await asyncio.create_task(_fib(n))
    elapsed = time.perf_counter() - start
    if value != _fibonacci.fib(n):
        raise RuntimeError(f"fib({n}) came out as {value}")
    return elapsed * size / _fibonacci.calls(n)


# Big

_PONG = -1
_START = -2


async def _node(
    index: int, pings: int, inboxes: list[asyncio.Queue[int]], finished: asyncio.Queue[None]
) -> None:
    rng = random.Random(_big.SEED + index)
    sent = 0
    async for message in _drain(inboxes[index]):
        if message >= 0:
            inboxes[message].put_nowait(_PONG)
        elif sent == pings:
            finished.put_nowait(None)  # stays to answer pings until cancelled
        else:
            sent += 1
            inboxes[rng.randrange(_big.ACTORS)].put_nowait(index)


async def big(size: int) -> float:
    """`ACTORS` tasks, each with its own queue; a ping carries the sender's index for the pong."""
    pings = _big.pings_per_actor(size)
    inboxes: list[asyncio.Queue[int]] = [asyncio.Queue() for _ in range(_big.ACTORS)]
    finished: asyncio.Queue[None] = asyncio.Queue()
    tasks = [asyncio.create_task(_node(i, pings, inboxes, finished)) for i in range(_big.ACTORS)]
    await asyncio.sleep(0)  # started before the clock, as the actors are
    start = time.perf_counter()
    for inbox in inboxes:
        inbox.put_nowait(_START)
    for _ in tasks:
        await finished.get()
    elapsed = time.perf_counter() - start
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return elapsed * size / (2 * _big.ACTORS * pings)


# Chameneos

_MEET, _CHANGE, _EXIT, _START_MEETING = 0, 1, 2, 3


async def _mall(
    meetings: int,
    inbox: asyncio.Queue[tuple[int, int]],
    members: list[asyncio.Queue[tuple[int, int, int]]],
) -> None:
    met = exited = 0
    waiting: tuple[int, int] | None = None
    async for index, colour in _drain(inbox):
        if met == meetings:
            members[index].put_nowait((_EXIT, 0, 0))
            exited += 1
            if exited == _chameneos.CHAMENEOS:
                return
        elif waiting is None:
            waiting = (index, colour)
        else:
            met += 1
            members[waiting[0]].put_nowait((_MEET, index, colour))
            waiting = None


async def _chameneo(
    index: int,
    colour: int,
    mall: asyncio.Queue[tuple[int, int]],
    members: list[asyncio.Queue[tuple[int, int, int]]],
) -> None:
    async for kind, partner, other in _drain(members[index]):
        if kind == _MEET:
            colour = _chameneos.complement(colour, other)
            members[partner].put_nowait((_CHANGE, index, colour))
        elif kind == _CHANGE:
            colour = other
        elif kind == _EXIT:
            return
        mall.put_nowait((index, colour))  # after _START_MEETING too


async def chameneos(meetings: int) -> float:
    """A mall task and `CHAMENEOS` tasks, each with its own queue; messages carry indexes."""
    mall: asyncio.Queue[tuple[int, int]] = asyncio.Queue()
    members: list[asyncio.Queue[tuple[int, int, int]]] = [
        asyncio.Queue() for _ in range(_chameneos.CHAMENEOS)
    ]
    async with asyncio.TaskGroup() as tg:
        tg.create_task(_mall(meetings, mall, members))
        for index in range(_chameneos.CHAMENEOS):
            tg.create_task(_chameneo(index, index % 3, mall, members))
        await asyncio.sleep(0)  # started before the clock, as the actors are
        start = time.perf_counter()
        for inbox in members:
            inbox.put_nowait((_START_MEETING, 0, 0))
    return time.perf_counter() - start


# Bank

_Request = tuple[int, "asyncio.Future[bool]"]


async def _account(inbox: asyncio.Queue[_Request], balances: list[int], index: int) -> None:
    while True:
        amount, reply = await inbox.get()  # one request at a time: nothing to drain
        if balances[index] + amount >= 0:
            balances[index] += amount
            reply.set_result(True)
        else:
            reply.set_result(False)


async def _teller(
    inbox: asyncio.Queue[tuple[int, int, int]], accounts: list[asyncio.Queue[_Request]], total: int
) -> None:
    loop = asyncio.get_running_loop()
    for _ in range(total):
        source, destination, amount = await inbox.get()
        debit: asyncio.Future[bool] = loop.create_future()
        accounts[source].put_nowait((-amount, debit))
        if await debit:
            credit: asyncio.Future[bool] = loop.create_future()
            accounts[destination].put_nowait((amount, credit))
            await credit


async def bank(size: int) -> float:
    """A teller task does request/reply with account tasks: a future per request."""
    transfers = _bank.make_transfers(size)
    balances = [_bank.INITIAL_BALANCE] * _bank.ACCOUNTS
    inboxes: list[asyncio.Queue[_Request]] = [asyncio.Queue() for _ in range(_bank.ACCOUNTS)]
    to_teller: asyncio.Queue[tuple[int, int, int]] = asyncio.Queue()
    accounts = [
        asyncio.create_task(_account(inboxes[i], balances, i)) for i in range(_bank.ACCOUNTS)
    ]
    await asyncio.sleep(0)  # every account waits on its queue before the clock
    start = time.perf_counter()
    teller = asyncio.create_task(_teller(to_teller, inboxes, size))
    for transfer in transfers:
        to_teller.put_nowait(transfer)
    await teller
    elapsed = time.perf_counter() - start
    for task in accounts:
        task.cancel()
    await asyncio.gather(*accounts, return_exceptions=True)
    if sum(balances) != _bank.ACCOUNTS * _bank.INITIAL_BALANCE:
        raise RuntimeError("the bank lost or made money")
    return elapsed
