"""The Savina scenarios (fibonacci, big, chameneos, bank) on Pykka's ThreadingActor.

As in `benchmarks.peers.pykka_`: plain `ActorRef.tell` and blocking
`ActorRef.ask`, the reply address in the message (Pykka has no implicit
sender), one OS thread per actor.
"""

from __future__ import annotations

import random
import threading
import time
from typing import Any, TypeAlias, cast

import pykka

from benchmarks import bank as _bank
from benchmarks import big as _big
from benchmarks import chameneos as _chameneos
from benchmarks import fibonacci as _fibonacci
from benchmarks.peers.pykka_ import WAIT_SECONDS

Ref: TypeAlias = "pykka.ActorRef[Any]"


def _wait(done: threading.Event) -> None:
    if not done.wait(WAIT_SECONDS):
        raise TimeoutError(f"no result within {WAIT_SECONDS:g} s")


class _Countdown:
    """Set `done` after `count` calls to `one_more`, from any thread."""

    def __init__(self, count: int) -> None:
        self.lock = threading.Lock()
        self.left = count
        self.done = threading.Event()

    def one_more(self) -> None:
        with self.lock:
            self.left -= 1
            if self.left == 0:
                self.done.set()


# Fibonacci


class _Answer:
    """Where the root puts fib(n)."""

    def __init__(self) -> None:
        self.value = 0
        self.ready = threading.Event()


class _Fib(pykka.ThreadingActor):
    """fib(n): answers n < 2 at once, else starts two child actors and adds their replies."""

    def __init__(self, parent: Ref | None, answer: _Answer | None) -> None:
        super().__init__()
        self.parent = parent
        self.answer = answer
        self.total = 0
        self.pending = 0

    def _reply(self, value: int) -> None:
        if self.parent is not None:
            self.parent.tell(("result", value))
        elif self.answer is not None:
            self.answer.value = value
            self.answer.ready.set()
        self.stop()

    def on_receive(self, message: object) -> object:
        kind, value = cast(tuple[str, int], message)
        if kind == "result":
            self.total += value
            self.pending -= 1
            if self.pending == 0:
                self._reply(self.total)
        elif value < 2:
            self._reply(value)
        else:
            self.pending = 2
            _Fib.start(self.actor_ref, None).tell(("n", value - 1))
            _Fib.start(self.actor_ref, None).tell(("n", value - 2))
        return None


def fibonacci(size: int) -> float:
    """An actor (a thread) per recursive call; each tells its parent its result and stops."""
    n = _fibonacci.depth(size)
    answer = _Answer()
    start = time.perf_counter()
    _Fib.start(None, answer).tell(("n", n))
    _wait(answer.ready)
    elapsed = time.perf_counter() - start
    if answer.value != _fibonacci.fib(n):
        raise RuntimeError(f"fib({n}) came out as {answer.value}")
    return elapsed * size / _fibonacci.calls(n)


# Big


class _Node(pykka.ThreadingActor):
    """Pings a random node, waits for its pong, `pings` times; answers every ping."""

    def __init__(self, index: int, pings: int, finished: _Countdown) -> None:
        super().__init__()
        self.rng = random.Random(_big.SEED + index)
        self.pings = pings
        self.finished = finished
        self.sent = 0
        self.nodes: list[Ref] = []

    def _ping_next(self) -> None:
        if self.sent == self.pings:
            self.finished.one_more()
            return
        self.sent += 1
        self.nodes[self.rng.randrange(_big.ACTORS)].tell(("ping", self.actor_ref))

    def on_receive(self, message: object) -> object:
        kind, payload = cast(tuple[str, Any], message)
        if kind == "ping":
            payload.tell(("pong", None))
        elif kind == "pong" or kind == "start":
            self._ping_next()
        else:
            self.nodes = payload
        return None


def big(size: int) -> float:
    """`ACTORS` actors (threads) ping random others and pong back."""
    pings = _big.pings_per_actor(size)
    finished = _Countdown(_big.ACTORS)
    nodes = [_Node.start(i, pings, finished) for i in range(_big.ACTORS)]
    try:
        for node in nodes:
            node.ask(("nodes", nodes), timeout=WAIT_SECONDS)
        start = time.perf_counter()
        for node in nodes:
            node.tell(("start", None))
        _wait(finished.done)
        elapsed = time.perf_counter() - start
    finally:
        _stop(nodes)
    return elapsed * size / (2 * _big.ACTORS * pings)


def _stop(refs: list[Ref]) -> None:
    for ref in refs:
        ref.stop(block=False)
    for ref in refs:
        ref.actor_stopped.wait(WAIT_SECONDS)


# Chameneos


class _Mall(pykka.ThreadingActor):
    """Holds one waiting chameneo; pairs it with the next, until `meetings` are done."""

    def __init__(self, meetings: int, done: threading.Event) -> None:
        super().__init__()
        self.meetings = meetings
        self.done = done
        self.met = 0
        self.exited = 0
        self.waiting: tuple[Ref, int] | None = None

    def on_receive(self, message: object) -> object:
        chameneo, colour = cast(tuple[Ref, int], message)
        if self.met == self.meetings:
            chameneo.tell(("exit", None, 0))
            self.exited += 1
            if self.exited == _chameneos.CHAMENEOS:
                self.done.set()
        elif self.waiting is None:
            self.waiting = (chameneo, colour)
        else:
            self.met += 1
            self.waiting[0].tell(("meet", chameneo, colour))
            self.waiting = None
        return None


class _Chameneo(pykka.ThreadingActor):
    """Asks the mall for a meeting, changes colour with its partner, and asks again."""

    def __init__(self, mall: Ref, colour: int) -> None:
        super().__init__()
        self.mall = mall
        self.colour = colour

    def on_receive(self, message: object) -> object:
        kind, partner, colour = cast(tuple[str, Ref, int], message)
        if kind == "meet":  # we waited at the mall: we lead the meeting
            self.colour = _chameneos.complement(self.colour, colour)
            partner.tell(("change", None, self.colour))
        elif kind == "change":
            self.colour = colour
        elif kind == "exit":
            return None
        self.mall.tell((self.actor_ref, self.colour))
        return None


def chameneos(meetings: int) -> float:
    """A mall actor and `CHAMENEOS` chameneo actors, each a thread."""
    done = threading.Event()
    mall = _Mall.start(meetings, done)
    members = [_Chameneo.start(mall, i % 3) for i in range(_chameneos.CHAMENEOS)]
    try:
        start = time.perf_counter()
        for member in members:
            member.tell(("start", None, 0))
        _wait(done)
        return time.perf_counter() - start
    finally:
        _stop([mall, *members])


# Bank


class _Account(pykka.ThreadingActor):
    """A balance; answers a debit with whether it went through, a credit with None."""

    def __init__(self) -> None:
        super().__init__()
        self.balance = _bank.INITIAL_BALANCE

    def on_receive(self, message: object) -> object:
        kind, amount = cast(tuple[str, int], message)
        if kind == "debit":
            if amount > self.balance:
                return False
            self.balance -= amount
            return True
        if kind == "credit":
            self.balance += amount
            return None
        return self.balance


class _Teller(pykka.ThreadingActor):
    """Makes each transfer with a blocking ask to debit, then one to credit."""

    def __init__(self, accounts: list[Ref], total: int, done: threading.Event) -> None:
        super().__init__()
        self.accounts = accounts
        self.total = total
        self.done = done
        self.completed = 0

    def on_receive(self, message: object) -> object:
        source, destination, amount = cast(tuple[int, int, int], message)
        if self.accounts[source].ask(("debit", amount), timeout=WAIT_SECONDS):
            self.accounts[destination].ask(("credit", amount), timeout=WAIT_SECONDS)
        self.completed += 1
        if self.completed == self.total:
            self.done.set()
        return None


def bank(size: int) -> float:
    """The calling thread tells the teller every transfer; seconds until it has made them all."""
    transfers = _bank.make_transfers(size)
    done = threading.Event()
    accounts = [_Account.start() for _ in range(_bank.ACCOUNTS)]
    teller = _Teller.start(accounts, size, done)
    try:
        start = time.perf_counter()
        for transfer in transfers:
            teller.tell(transfer)
        _wait(done)
        elapsed = time.perf_counter() - start
        balances = [
            cast(int, account.ask(("balance", 0), timeout=WAIT_SECONDS)) for account in accounts
        ]
    finally:
        _stop([teller, *accounts])
    if sum(balances) != _bank.ACCOUNTS * _bank.INITIAL_BALANCE:
        raise RuntimeError("the bank lost or made money")
    return elapsed
