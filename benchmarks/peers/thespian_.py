"""The scenarios on Thespian's simpleSystemBase: every actor in the calling thread.

simpleSystemBase is Thespian's in-process base; its `ActorSystem.tell` and
`ask` deliver the message and run every actor to completion before
returning, so there are no threads or sockets to cross. Inside actors,
`self.send` is the only way to send (the documented fastest, and only, way);
from outside, `tell`/`ask` on the `ActorSystem`. Thespian actors take no
constructor arguments: their setup arrives in their first message.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

from thespian.actors import Actor, ActorSystem

from benchmarks.fanin import SENDERS, YIELD_EVERY
from benchmarks.forkjoin import WORKERS as FORK_WORKERS
from benchmarks.forkjoin import YIELD_ROUNDS, per_worker, work
from benchmarks.ring import RING_SIZE

#: Thespian's ask timeout; simpleSystemBase runs to completion, so it never waits long.
WAIT_SECONDS = 300.0


@contextmanager
def _system() -> Iterator[Any]:
    system = ActorSystem("simpleSystemBase")
    try:
        yield system
    finally:
        system.shutdown()


class _Ping(Actor):
    """Plays `round_trips` round trips with the pong it is given, then answers its starter."""

    round_trips = 0
    starter: object = None

    def receiveMessage(self, message: object, sender: object) -> None:
        if isinstance(message, int):
            if message >= self.round_trips:
                self.send(self.starter, message)
            else:
                self.send(sender, message + 1)
        else:
            pong, self.round_trips = cast(tuple[object, int], message)
            self.starter = sender
            self.send(pong, 1)


class _Pong(Actor):
    """Returns every message to whoever sent it."""

    def receiveMessage(self, message: object, sender: object) -> None:
        self.send(sender, message)


def tell(round_trips: int) -> float:
    """Two actors bounce a counter with `send`; seconds for `round_trips` round trips."""
    with _system() as system:
        ping, pong = system.createActor(_Ping), system.createActor(_Pong)
        start = time.perf_counter()
        reply = system.ask(ping, (pong, round_trips), WAIT_SECONDS)
        elapsed = time.perf_counter() - start
    if reply != round_trips:
        raise RuntimeError(f"ping answered {reply!r}, expected {round_trips}")
    return elapsed


class _Echo(Actor):
    """Answers every message with the message itself."""

    def receiveMessage(self, message: object, sender: object) -> None:
        self.send(sender, message)


def ask(requests: int) -> float:
    """The caller asks an echo actor `requests` times through the ActorSystem, in turn."""
    with _system() as system:
        echo = system.createActor(_Echo)
        start = time.perf_counter()
        for i in range(requests):
            system.ask(echo, i, WAIT_SECONDS)
        return time.perf_counter() - start


class _Counter(Actor):
    """Counts messages; answers a ``"count"`` request with the count so far."""

    count = 0

    def receiveMessage(self, message: object, sender: object) -> None:
        if message == "count":
            self.send(sender, self.count)
        else:
            self.count += 1


class _Sender(Actor):
    """Sends rounds of numbers to its targets, a chunk at a time.

    After each chunk it sends itself the rest, so the targets run between
    chunks, as actorlib's senders yield to the event loop every so often.
    Sending everything at once would queue it all first, and
    simpleSystemBase's queue of pending sends is a list popped from the
    front, whose cost grows with its length: a handicap, not its speed.
    """

    def receiveMessage(self, message: object, sender: object) -> None:
        targets, first, stop, chunk = cast(tuple[list[object], int, int, int], message)
        end = min(stop, first + chunk)
        for i in range(first, end):
            for target in targets:
                self.send(target, i)
        if end < stop:
            self.send(self.myAddress, (targets, end, stop, chunk))


def fanin(messages: int) -> float:
    """`SENDERS` sender actors send one counting actor `messages // SENDERS` messages each."""
    per_sender = messages // SENDERS
    with _system() as system:
        counter = system.createActor(_Counter)
        senders = [system.createActor(_Sender) for _ in range(SENDERS)]
        start = time.perf_counter()
        for sender in senders:
            system.tell(sender, ([counter], 0, per_sender, YIELD_EVERY))
        count = system.ask(counter, "count", WAIT_SECONDS)
        elapsed = time.perf_counter() - start
    if count != per_sender * SENDERS:
        raise RuntimeError(f"counter saw {count!r} messages, expected {per_sender * SENDERS}")
    return elapsed


class _Node(Actor):
    """Passes the token on until its hop count reaches `hops`, then answers the starter."""

    hops = 0
    next: object = None

    def receiveMessage(self, message: object, sender: object) -> None:
        if isinstance(message, int):
            # The start, from the asker; the token carries whom to answer, as
            # the node it ends on does not know the asker.
            self.send(self.next, (message + 1, sender))
        elif isinstance(message, tuple):
            hop, starter = message
            if hop >= self.hops:
                self.send(starter, hop)
            else:
                self.send(self.next, (hop + 1, starter))
        else:
            self.next, self.hops = cast(list[Any], message)


def ring(hops: int) -> float:
    """`RING_SIZE` actors, each knowing the next; seconds for the token to make `hops` hops."""
    with _system() as system:
        nodes = [system.createActor(_Node) for _ in range(RING_SIZE)]
        for node, successor in zip(nodes, nodes[1:] + nodes[:1], strict=True):
            system.tell(node, [successor, hops])
        start = time.perf_counter()
        reply = system.ask(nodes[0], 0, WAIT_SECONDS)
        elapsed = time.perf_counter() - start
    if reply != hops:
        raise RuntimeError(f"ring answered {reply!r}, expected {hops}")
    return elapsed


class _ForkWorker(Actor):
    """Does `work` on each number; answers a ``"count"`` request with the count so far."""

    count = 0
    total = 0.0

    def receiveMessage(self, message: object, sender: object) -> None:
        if message == "count":
            self.send(sender, self.count)
        else:
            self.total += work(cast(int, message))
            self.count += 1


def forkjoin(size: int) -> float:
    """A sender actor sends each worker actor `per_worker(size)` numbers, round robin."""
    n = per_worker(size)
    with _system() as system:
        workers = [system.createActor(_ForkWorker) for _ in range(FORK_WORKERS)]
        sender = system.createActor(_Sender)
        start = time.perf_counter()
        system.tell(sender, (workers, 0, n, YIELD_ROUNDS))
        counts = [system.ask(worker, "count", WAIT_SECONDS) for worker in workers]
        elapsed = time.perf_counter() - start
    if counts != [n] * FORK_WORKERS:
        raise RuntimeError(f"workers saw {counts!r} messages, expected {n} each")
    return elapsed * size / (FORK_WORKERS * n)
