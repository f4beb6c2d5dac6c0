"""The Savina scenarios (fibonacci, big, chameneos, bank) on xoscar, in one in-process pool.

As in `benchmarks.peers.xoscar_`: local refs (`xo.actor_ref`, `self.ref()`),
``await ref.method.tell(...)`` for one-way messages and ``await
ref.method(...)`` for request/response, plain stateful `xo.Actor`s. A
recursive request/response (fibonacci) is xoscar's natural form: a parent
awaits both children's calls at once with `asyncio.gather`.
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

import xoscar as xo

from benchmarks import bank as _bank
from benchmarks import big as _big
from benchmarks import chameneos as _chameneos
from benchmarks import fibonacci as _fibonacci
from benchmarks.peers.xoscar_ import _pool, _spawn, _wait

# Fibonacci


class _Fib(xo.Actor):
    """fib(n): answers n < 2 at once, else creates two child actors and adds their answers."""

    async def fib(self, n: int) -> int:
        if n < 2:
            return n
        children = [await _spawn(self.address, _Fib) for _ in range(2)]
        left, right = await asyncio.gather(children[0].fib(n - 1), children[1].fib(n - 2))
        for child in children:
            await xo.destroy_actor(child)
        return int(left + right)


async def fibonacci(size: int) -> float:
    """An actor per recursive call, created in the pool and destroyed once it has answered."""
    n = _fibonacci.depth(size)
    async with _pool() as address:
        start = time.perf_counter()
        root = await _spawn(address, _Fib)
        value = await root.fib(n)
        elapsed = time.perf_counter() - start
    if value != _fibonacci.fib(n):
        raise RuntimeError(f"fib({n}) came out as {value}")
    return elapsed * size / _fibonacci.calls(n)


# Big


class _Node(xo.Actor):
    """Pings a random node, waits for its pong, `pings` times; answers every ping."""

    def __init__(self, index: int, pings: int, finished: asyncio.Queue[None]) -> None:
        super().__init__()
        self.rng = random.Random(_big.SEED + index)
        self.pings = pings
        self.finished = finished
        self.sent = 0
        self.nodes: list[Any] = []

    def link(self, nodes: list[Any]) -> None:
        self.nodes = nodes

    async def ping(self, sender: Any) -> None:
        await sender.pong.tell()

    async def pong(self) -> None:
        if self.sent == self.pings:
            self.finished.put_nowait(None)
            return
        self.sent += 1
        await self.nodes[self.rng.randrange(_big.ACTORS)].ping.tell(self.ref())


async def big(size: int) -> float:
    """`ACTORS` actors ping random others and pong back, all with one-way tells."""
    pings = _big.pings_per_actor(size)
    finished: asyncio.Queue[None] = asyncio.Queue()
    async with _pool() as address:
        nodes = [await _spawn(address, _Node, i, pings, finished) for i in range(_big.ACTORS)]
        for node in nodes:
            await node.link(nodes)
        start = time.perf_counter()
        for node in nodes:
            await node.pong.tell()  # the first "pong" starts each node's pings
        async with asyncio.timeout(300):
            for _ in nodes:
                await finished.get()
        elapsed = time.perf_counter() - start
    return elapsed * size / (2 * _big.ACTORS * pings)


# Chameneos


class _Mall(xo.Actor):
    """Holds one waiting chameneo; pairs it with the next, until `meetings` are done."""

    def __init__(self, meetings: int, done: asyncio.Event) -> None:
        super().__init__()
        self.meetings = meetings
        self.done = done
        self.met = 0
        self.exited = 0
        self.waiting: tuple[Any, int] | None = None

    async def meet(self, chameneo: Any, colour: int) -> None:
        if self.met == self.meetings:
            await chameneo.exit.tell()
            self.exited += 1
            if self.exited == _chameneos.CHAMENEOS:
                self.done.set()
        elif self.waiting is None:
            self.waiting = (chameneo, colour)
        else:
            self.met += 1
            await self.waiting[0].partner.tell(chameneo, colour)
            self.waiting = None


class _Chameneo(xo.Actor):
    """Asks the mall for a meeting, changes colour with its partner, and asks again."""

    def __init__(self, mall: Any, colour: int) -> None:
        super().__init__()
        self.mall = mall
        self.colour = colour

    async def start(self) -> None:
        await self.mall.meet.tell(self.ref(), self.colour)

    async def partner(self, other: Any, colour: int) -> None:  # we lead the meeting
        self.colour = _chameneos.complement(self.colour, colour)
        await other.change.tell(self.colour)
        await self.mall.meet.tell(self.ref(), self.colour)

    async def change(self, colour: int) -> None:
        self.colour = colour
        await self.mall.meet.tell(self.ref(), self.colour)

    def exit(self) -> None:
        pass


async def chameneos(meetings: int) -> float:
    """A mall actor and `CHAMENEOS` chameneo actors, all with one-way tells."""
    done = asyncio.Event()
    async with _pool() as address:
        mall = await _spawn(address, _Mall, meetings, done)
        members = [
            await _spawn(address, _Chameneo, mall, i % 3) for i in range(_chameneos.CHAMENEOS)
        ]
        start = time.perf_counter()
        for member in members:
            await member.start.tell()
        await _wait(done)
        return time.perf_counter() - start


# Bank


class _Account(xo.Actor):
    """A balance; a debit answers whether it went through."""

    def __init__(self) -> None:
        super().__init__()
        self.balance = _bank.INITIAL_BALANCE

    def debit(self, amount: int) -> bool:
        if amount > self.balance:
            return False
        self.balance -= amount
        return True

    def credit(self, amount: int) -> None:
        self.balance += amount

    def get_balance(self) -> int:
        return self.balance


class _Teller(xo.Actor):
    """Makes each transfer with an awaited debit call, then an awaited credit call."""

    def __init__(self, accounts: list[Any], total: int, done: asyncio.Event) -> None:
        super().__init__()
        self.accounts = accounts
        self.total = total
        self.done = done
        self.completed = 0

    async def transfer(self, source: int, destination: int, amount: int) -> None:
        if await self.accounts[source].debit(amount):
            await self.accounts[destination].credit(amount)
        self.completed += 1
        if self.completed == self.total:
            self.done.set()


async def bank(size: int) -> float:
    """The benchmark tells the teller every transfer; the teller's lock runs them one at a time."""
    transfers = _bank.make_transfers(size)
    done = asyncio.Event()
    async with _pool() as address:
        accounts = [await _spawn(address, _Account) for _ in range(_bank.ACCOUNTS)]
        teller = await _spawn(address, _Teller, accounts, size, done)
        start = time.perf_counter()
        for transfer in transfers:
            await teller.transfer.tell(*transfer)
        await _wait(done)
        elapsed = time.perf_counter() - start
        balances = [await account.get_balance() for account in accounts]
    if sum(balances) != _bank.ACCOUNTS * _bank.INITIAL_BALANCE:
        raise RuntimeError("the bank lost or made money")
    return elapsed
