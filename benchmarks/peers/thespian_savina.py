"""The Savina scenarios (fibonacci, big, chameneos, bank) on Thespian's simpleSystemBase.

As in `benchmarks.peers.thespian_`: `self.send` inside actors, `tell`/`ask`
on the `ActorSystem` from outside, setup in a first message. Thespian has no
ask inside an actor, so a request/reply (bank) is a message and its answer,
with the actor keeping what it was doing in its state.
"""

from __future__ import annotations

import collections
import random
import time
from typing import Any, cast

from thespian.actors import Actor, ActorExitRequest

from benchmarks import bank as _bank
from benchmarks import big as _big
from benchmarks import chameneos as _chameneos
from benchmarks import fibonacci as _fibonacci
from benchmarks.peers.thespian_ import WAIT_SECONDS, _system

# Fibonacci


class _Fib(Actor):
    """fib(n): answers n < 2 at once, else creates two children and adds their replies."""

    parent: object = None
    total = 0
    pending = 0

    def receiveMessage(self, message: object, sender: object) -> None:
        if isinstance(message, int):
            self.parent = sender
            if message < 2:
                self._reply(message)
            else:
                self.pending = 2
                self.send(self.createActor(_Fib), message - 1)
                self.send(self.createActor(_Fib), message - 2)
        elif isinstance(message, tuple):
            self.total += message[0]
            self.pending -= 1
            if self.pending == 0:
                self._reply(self.total)
        # ActorExitRequest and ChildActorExited need nothing more.

    def _reply(self, value: int) -> None:
        self.send(self.parent, (value,))
        self.send(self.myAddress, ActorExitRequest())


def fibonacci(size: int) -> float:
    """An actor per recursive call (`createActor`); each sends its parent its result and exits."""
    n = _fibonacci.depth(size)
    with _system() as system:
        start = time.perf_counter()
        reply = system.ask(system.createActor(_Fib), n, WAIT_SECONDS)
        elapsed = time.perf_counter() - start
    if reply != (_fibonacci.fib(n),):
        raise RuntimeError(f"fib({n}) came out as {reply!r}")
    return elapsed * size / _fibonacci.calls(n)


# Big


class _Node(Actor):
    """Pings a random node, waits for its pong, `pings` times; answers every ping."""

    rng: random.Random
    nodes: list[object]
    pings = 0
    sent = 0
    sink: object = None

    def receiveMessage(self, message: object, sender: object) -> None:
        if message == "ping":
            self.send(sender, "pong")
        elif message == "pong" or message == "start":
            if self.sent == self.pings:
                self.send(self.sink, "finished")
            else:
                self.sent += 1
                self.send(self.nodes[self.rng.randrange(_big.ACTORS)], "ping")
        elif isinstance(message, tuple):
            index, self.pings, self.nodes, self.sink = message
            self.rng = random.Random(_big.SEED + index)


class _Sink(Actor):
    """Starts every node; answers the asker once all have finished their pings."""

    finished = 0
    asker: object = None

    def receiveMessage(self, message: object, sender: object) -> None:
        if message == "finished":
            self.finished += 1
            if self.finished == _big.ACTORS:
                self.send(self.asker, self.finished)
        elif isinstance(message, list):
            self.asker = sender
            for node in message:
                self.send(node, "start")


def big(size: int) -> float:
    """`ACTORS` actors ping random others and pong back; a sink answers when all are done."""
    pings = _big.pings_per_actor(size)
    with _system() as system:
        sink = system.createActor(_Sink)
        nodes = [system.createActor(_Node) for _ in range(_big.ACTORS)]
        for index, node in enumerate(nodes):
            system.tell(node, (index, pings, nodes, sink))
        start = time.perf_counter()
        reply = system.ask(sink, nodes, WAIT_SECONDS)
        elapsed = time.perf_counter() - start
    if reply != _big.ACTORS:
        raise RuntimeError(f"sink answered {reply!r}")
    return elapsed * size / (2 * _big.ACTORS * pings)


# Chameneos


class _Mall(Actor):
    """Pairs up chameneos until `meetings` are done; answers the asker when all have exited."""

    meetings = 0
    met = 0
    exited = 0
    waiting: tuple[object, int] | None = None
    asker: object = None

    def receiveMessage(self, message: object, sender: object) -> None:
        if isinstance(message, tuple):  # ("start", meetings, chameneos), from the asker
            _, self.meetings, members = message
            self.asker = sender
            for chameneo in members:
                self.send(chameneo, ("start",))
        elif self.met == self.meetings:
            self.send(sender, ("exit",))
            self.exited += 1
            if self.exited == _chameneos.CHAMENEOS:
                self.send(self.asker, self.met)
        elif self.waiting is None:
            self.waiting = (sender, cast(int, message))
        else:
            self.met += 1
            self.send(self.waiting[0], ("meet", sender, message))
            self.waiting = None


class _Chameneo(Actor):
    """Asks the mall for a meeting (sends its colour), changes colour with its partner, again."""

    colour = 0
    mall: object = None

    def receiveMessage(self, message: object, sender: object) -> None:
        kind, *rest = cast(tuple[Any, ...], message)
        if kind == "setup":
            self.mall, self.colour = rest
            return
        if kind == "meet":  # we waited at the mall: we lead the meeting
            partner, colour = rest
            self.colour = _chameneos.complement(self.colour, colour)
            self.send(partner, ("change", self.colour))
        elif kind == "change":
            self.colour = rest[0]
        elif kind == "exit":
            return
        self.send(self.mall, self.colour)


def chameneos(meetings: int) -> float:
    """A mall actor and `CHAMENEOS` chameneo actors; the asker hears when all have exited."""
    with _system() as system:
        mall = system.createActor(_Mall)
        members = [system.createActor(_Chameneo) for _ in range(_chameneos.CHAMENEOS)]
        for index, member in enumerate(members):
            system.tell(member, ("setup", mall, index % 3))
        start = time.perf_counter()
        reply = system.ask(mall, ("start", meetings, members), WAIT_SECONDS)
        elapsed = time.perf_counter() - start
    if reply != meetings:
        raise RuntimeError(f"mall answered {reply!r}, expected {meetings}")
    return elapsed


# Bank


class _Account(Actor):
    """A balance; answers a debit with whether it went through, a credit with None."""

    balance = _bank.INITIAL_BALANCE

    def receiveMessage(self, message: object, sender: object) -> None:
        kind, amount = cast(tuple[str, int], message)
        if kind == "debit":
            ok = amount <= self.balance
            if ok:
                self.balance -= amount
            self.send(sender, ("debited", ok))
        elif kind == "credit":
            self.balance += amount
            self.send(sender, ("credited", True))
        else:
            self.send(sender, self.balance)


class _Teller(Actor):
    """Makes one transfer at a time: a debit request, its answer, then a credit and its answer.

    Transfers that arrive meanwhile wait in `queue`; a ``"done"`` request is
    answered when every transfer so far is complete.
    """

    def __init__(self) -> None:
        super().__init__()
        self.accounts: list[object] = []
        self.queue: collections.deque[tuple[int, int, int]] = collections.deque()
        self.current: tuple[int, int, int] | None = None
        self.asker: object = None

    def receiveMessage(self, message: object, sender: object) -> None:
        if isinstance(message, list):
            self.accounts = message
            return
        kind, value = cast(tuple[str, Any], message)
        if kind == "transfer":
            self.queue.append(value)
        elif kind == "debited" and value:
            assert self.current is not None
            self.send(self.accounts[self.current[1]], ("credit", self.current[2]))
            return
        elif kind in ("debited", "credited"):
            self.current = None
        else:
            self.asker = sender
        self._next()

    def _next(self) -> None:
        if self.current is None and self.queue:
            self.current = source, _, amount = self.queue.popleft()
            self.send(self.accounts[source], ("debit", amount))
        elif self.current is None and self.asker is not None:
            self.send(self.asker, "done")
            self.asker = None


def bank(size: int) -> float:
    """The caller tells the teller every transfer, then asks it for ``"done"``."""
    transfers = _bank.make_transfers(size)
    with _system() as system:
        accounts = [system.createActor(_Account) for _ in range(_bank.ACCOUNTS)]
        teller = system.createActor(_Teller)
        system.tell(teller, accounts)
        start = time.perf_counter()
        for transfer in transfers:
            system.tell(teller, ("transfer", transfer))
        reply = system.ask(teller, ("done", None), WAIT_SECONDS)
        elapsed = time.perf_counter() - start
        balances = [system.ask(account, ("balance", 0), WAIT_SECONDS) for account in accounts]
    if reply != "done" or sum(balances) != _bank.ACCOUNTS * _bank.INITIAL_BALANCE:
        raise RuntimeError(f"the bank answered {reply!r} or lost money")
    return elapsed
