"""The scenarios on Pykka's ThreadingActor: one OS thread per actor.

Pykka's fastest documented way is the plain `ActorRef`: `tell` enqueues a
message for `on_receive`, and `ask(message)` blocks on the reply (the value
`on_receive` returns). Proxies (`ref.proxy().method()`) are built on the same
messages plus method lookup and a future per call, so they can only be slower.
Pykka has no implicit sender: a reply address travels in the message.
"""

from __future__ import annotations

import threading
import time
from typing import Any, cast

import pykka

from benchmarks.fanin import SENDERS
from benchmarks.forkjoin import WORKERS as FORK_WORKERS
from benchmarks.forkjoin import per_worker, work
from benchmarks.ring import RING_SIZE

#: Bound on every wait, so a lost message fails the run instead of hanging it.
WAIT_SECONDS = 300.0


#: A ping-pong message: the count and whom to answer (Pykka has no implicit sender).
_Ball = tuple[int, "pykka.ActorRef[Any]"]


def _wait(done: threading.Event) -> None:
    if not done.wait(WAIT_SECONDS):
        raise TimeoutError(f"no result within {WAIT_SECONDS:g} s")


class _Ping(pykka.ThreadingActor):
    """Sends the round-trip count to `pong` until it reaches `round_trips`."""

    def __init__(self, round_trips: int, done: threading.Event) -> None:
        super().__init__()
        self.round_trips = round_trips
        self.done = done

    def on_receive(self, message: object) -> object:
        count, pong = cast(_Ball, message)
        if count >= self.round_trips:
            self.done.set()
        else:
            pong.tell((count + 1, self.actor_ref))
        return None


class _Pong(pykka.ThreadingActor):
    """Returns every count to the ref it came with."""

    def on_receive(self, message: object) -> object:
        count, ping = cast(_Ball, message)
        ping.tell((count, self.actor_ref))
        return None


def tell(round_trips: int) -> float:
    """Two actors bounce a counter with `tell`; seconds for `round_trips` round trips."""
    done = threading.Event()
    ping = _Ping.start(round_trips, done)
    pong = _Pong.start()
    try:
        start = time.perf_counter()
        ping.tell((0, pong))
        _wait(done)
        return time.perf_counter() - start
    finally:
        ping.stop()
        pong.stop()


class _Echo(pykka.ThreadingActor):
    """Answers every ask with the message itself."""

    def on_receive(self, message: object) -> object:
        return message


def ask(requests: int) -> float:
    """The calling thread asks an echo actor `requests` times, blocking on each reply."""
    echo = _Echo.start()
    try:
        start = time.perf_counter()
        for i in range(requests):
            echo.ask(i, timeout=WAIT_SECONDS)
        return time.perf_counter() - start
    finally:
        echo.stop()


class _Counter(pykka.ThreadingActor):
    """Counts messages and sets `done` when `total` have arrived."""

    def __init__(self, total: int, done: threading.Event) -> None:
        super().__init__()
        self.total = total
        self.done = done
        self.count = 0

    def on_receive(self, message: object) -> object:
        self.count += 1
        if self.count == self.total:
            self.done.set()
        return None


def _tell_many(ref: pykka.ActorRef[Any], count: int) -> None:
    for i in range(count):
        ref.tell(i)


def fanin(messages: int) -> float:
    """`SENDERS` plain threads tell one counting actor `messages // SENDERS` times each."""
    per_sender = messages // SENDERS
    done = threading.Event()
    counter = _Counter.start(per_sender * SENDERS, done)
    senders = [
        threading.Thread(target=_tell_many, args=(counter, per_sender)) for _ in range(SENDERS)
    ]
    try:
        start = time.perf_counter()
        for sender in senders:
            sender.start()
        _wait(done)
        elapsed = time.perf_counter() - start
    finally:
        for sender in senders:
            sender.join()
        counter.stop()
    return elapsed


class _Node(pykka.ThreadingActor):
    """Passes the token (its hop count) to the next node until `hops` is reached."""

    def __init__(self, hops: int, done: threading.Event) -> None:
        super().__init__()
        self.hops = hops
        self.done = done
        self.next: pykka.ActorRef[Any] | None = None

    def on_receive(self, message: object) -> object:
        if isinstance(message, int):
            if message >= self.hops:
                self.done.set()
            else:
                assert self.next is not None
                self.next.tell(message + 1)
        else:
            self.next = cast("pykka.ActorRef[Any]", message)
        return None


def ring(hops: int) -> float:
    """`RING_SIZE` actors (threads), each knowing the next; seconds for `hops` hops."""
    done = threading.Event()
    nodes = [_Node.start(hops, done) for _ in range(RING_SIZE)]
    try:
        for node, successor in zip(nodes, nodes[1:] + nodes[:1], strict=True):
            # ask, not tell: every link is in place before the token starts.
            node.ask(successor, timeout=WAIT_SECONDS)
        start = time.perf_counter()
        nodes[0].tell(0)
        _wait(done)
        return time.perf_counter() - start
    finally:
        for node in nodes:
            node.stop(block=False)
        for node in nodes:
            node.actor_stopped.wait(WAIT_SECONDS)


class _ForkWorker(pykka.ThreadingActor):
    """Does `work` on each message; sets `done` when the last of all workers has finished."""

    def __init__(self, expected: int, finished: _Finished) -> None:
        super().__init__()
        self.expected = expected
        self.finished = finished
        self.count = 0
        self.total = 0.0

    def on_receive(self, message: object) -> object:
        self.total += work(cast(int, message))
        self.count += 1
        if self.count == self.expected:
            self.finished.one_more()
        return None


class _Finished:
    """Counts finished workers across their threads; `done` is set when all have."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.workers = 0
        self.done = threading.Event()

    def one_more(self) -> None:
        with self.lock:
            self.workers += 1
            if self.workers == FORK_WORKERS:
                self.done.set()


def forkjoin(size: int) -> float:
    """The calling thread tells each of the worker actors (threads) in turn, round after round."""
    n = per_worker(size)
    finished = _Finished()
    workers = [_ForkWorker.start(n, finished) for _ in range(FORK_WORKERS)]
    try:
        start = time.perf_counter()
        for i in range(n):
            for worker in workers:
                worker.tell(i)
        _wait(finished.done)
        elapsed = time.perf_counter() - start
    finally:
        for worker in workers:
            worker.stop()
    return elapsed * size / (FORK_WORKERS * n)
