"""TestProbe: an actor tests talk through; its expectations wait on the system's clock."""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

import anyio

from .._actor import Actor
from .._ref import ActorRef, check_timeout, current_sender
from .._system import ActorSystem
from ._schedule import stable_repr
from ._simulation import SimulatedSystem


class _Inbox:
    def __init__(self) -> None:
        self.messages: deque[tuple[object, ActorRef[Any] | None]] = deque()
        self.arrived = anyio.Event()

    def put(self, message: object, sender: ActorRef[Any] | None) -> None:
        self.messages.append((message, sender))
        self.arrived.set()


class _Watch:
    def __init__(self, ref: ActorRef[Any]) -> None:
        self.ref = ref


class _ProbeActor(Actor):
    def __init__(self, inbox: _Inbox) -> None:
        self.inbox = inbox

    async def receive(self, message: object) -> object:
        if isinstance(message, _Watch):
            self.context.watch(message.ref)
            return None
        self.inbox.put(message, self.context.sender)
        return None


def _matches(expected: object, message: object) -> bool:
    if isinstance(expected, type):
        return isinstance(message, expected)
    if callable(expected):
        return bool(expected(message))
    return bool(message == expected)


def _describe(expected: object) -> str:
    if isinstance(expected, type):
        return f"a message of type {expected.__name__}"
    if callable(expected):
        return f"a message matching {getattr(expected, '__name__', stable_repr(expected))}"
    return stable_repr(expected)


class TestProbe:
    """An actor whose messages a test can wait for and check (Akka's TestProbe).

    Pass ``probe.ref`` wherever a reply-to or watcher ref is needed, or send
    with `tell` so that replies come back to it. Waits run on the system's
    clock: in a `SimulatedSystem` a timeout costs no real time (virtual time
    jumps ahead while the probe waits); on a plain ActorSystem with a
    `VirtualClock`, a timeout passes only as the test advances the clock.

    Create one with ``probe = await TestProbe.spawn(system)``.
    """

    __test__ = False  # not a pytest test class, despite its name

    def __init__(self, system: ActorSystem, ref: ActorRef[Any], inbox: _Inbox) -> None:
        self.system = system
        self.ref = ref
        self._inbox = inbox
        self.last_sender: ActorRef[Any] | None = None
        """The sender of the message most recently returned."""

    @classmethod
    async def spawn(cls, system: ActorSystem, *, name: str | None = None) -> TestProbe:
        """Start a probe actor in *system*.

        Raises:
            TypeError: *system* is not an ActorSystem.
        """
        if not isinstance(system, ActorSystem):
            raise TypeError(f"TestProbe.spawn() expects a running ActorSystem, got {system!r}")
        inbox = _Inbox()
        ref = await system.spawn(_ProbeActor, inbox, name=name)
        return cls(system, ref, inbox)

    def __repr__(self) -> str:
        return f"TestProbe({self.ref.path!r}, {len(self._inbox.messages)} waiting)"

    @property
    def pending(self) -> list[object]:
        """Messages received and not yet taken by an expectation."""
        return [message for message, _ in self._inbox.messages]

    def tell(self, target: ActorRef[Any], message: object) -> None:
        """Tell *target* a message whose sender is this probe.

        The reply an actor sends to ``self.context.sender`` then arrives here.
        """
        token = current_sender.set(self.ref)
        try:
            target.tell(message)
        finally:
            current_sender.reset(token)

    def watch(self, ref: ActorRef[Any]) -> None:
        """Make the probe watch *ref*: its `Terminated` arrives as a message."""
        self.ref.tell(_Watch(ref))

    async def expect(self, expected: object, *, timeout: float = 3.0) -> Any:
        """Take the next message and check it; return it.

        Args:
            expected: a type (isinstance), a predicate (truthy), or a value (==).
            timeout: seconds on the system's clock.

        Raises:
            AssertionError: the next message does not match, or none came in time.
            Deadlock: in a SimulatedSystem that deadlocked while the probe waited.
        """
        message = await self._next(timeout, _describe(expected))
        if not _matches(expected, message):
            raise AssertionError(
                f"{self.ref.path} expected {_describe(expected)}, got {stable_repr(message)}"
            )
        return message

    async def expect_no_message(self, *, within: float = 0.1) -> None:
        """Check that no message arrives for *within* seconds.

        Raises:
            AssertionError: a message arrived.
        """
        limit = check_timeout(within, "within")
        if not self._inbox.messages and await self._wait(limit, take=False) is _TIMED_OUT:
            return
        # Not taken: the unexpected message stays for the test to look at.
        message = self._inbox.messages[0][0]
        raise AssertionError(
            f"{self.ref.path} expected no message within {limit:g} s, got {stable_repr(message)}"
        )

    async def receive_n(self, n: int, *, timeout: float = 3.0) -> list[Any]:
        """Take the next *n* messages (all within *timeout* seconds).

        Raises:
            AssertionError: fewer than *n* arrived in time.
        """
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ValueError(f"n must be an int >= 0, got {n!r}")
        got: list[Any] = []
        limit = check_timeout(timeout)
        clock = self.system.clock
        deadline = clock.now() + (limit or 0.0)
        while len(got) < n:
            left = max(0.0, deadline - clock.now())
            message = await self._next_or_timeout(left)
            if message is _TIMED_OUT:
                raise AssertionError(
                    f"{self.ref.path} expected {n} messages within {limit:g} s, got "
                    f"{len(got)}: {_listing(got)}"
                )
            got.append(message)
        return got

    async def fish_for(self, predicate: Callable[[Any], bool], *, timeout: float = 3.0) -> Any:
        """Skip messages until one satisfies *predicate*; return it.

        Raises:
            AssertionError: no matching message within *timeout* seconds.
        """
        skipped: list[object] = []
        limit = check_timeout(timeout)
        clock = self.system.clock
        deadline = clock.now() + (limit or 0.0)
        while True:
            left = max(0.0, deadline - clock.now())
            message = await self._next_or_timeout(left)
            if message is _TIMED_OUT:
                raise AssertionError(
                    f"{self.ref.path} expected {_describe(predicate)} within {limit:g} s; "
                    f"skipped {len(skipped)}: {_listing(skipped)}"
                )
            if _matches(predicate, message):
                return message
            skipped.append(message)

    async def _next(self, timeout: float, wanted: str) -> Any:
        limit = check_timeout(timeout)
        message = self._take() if self._inbox.messages else await self._wait(limit)
        if message is _TIMED_OUT:
            raise AssertionError(
                f"{self.ref.path} expected {wanted} within {limit:g} s, but no message arrived"
            )
        return message

    async def _next_or_timeout(self, limit: float) -> object:
        return self._take() if self._inbox.messages else await self._wait(limit)

    def _take(self) -> object:
        message, self.last_sender = self._inbox.messages.popleft()
        return message

    async def _wait(self, limit: float | None, *, take: bool = True) -> object:
        """The next message (left queued unless *take*), or _TIMED_OUT after *limit* s."""
        inbox = self._inbox
        timed_out = False
        deadlock: BaseException | None = None

        def time_out() -> None:
            nonlocal timed_out
            timed_out = True
            inbox.arrived.set()

        def deadlocked(error: BaseException) -> None:
            nonlocal deadlock
            deadlock = error
            inbox.arrived.set()

        timer = None
        if limit is not None:
            timer = self.system.timer_queue.call_later(limit, time_out)
        try:
            with self._time_may_pass(deadlocked):
                while not inbox.messages and not timed_out and deadlock is None:
                    inbox.arrived = anyio.Event()
                    await inbox.arrived.wait()
        finally:
            if timer is not None:
                timer.cancel()
        if not inbox.messages:
            if deadlock is not None:
                # A simulated system deadlocked: no time will pass, nothing will come.
                raise deadlock
            return _TIMED_OUT
        return self._take() if take else inbox.messages[0][0]

    @contextlib.contextmanager
    def _time_may_pass(self, on_deadlock: Callable[[BaseException], None]) -> Iterator[None]:
        # In a simulation, virtual time may jump while the probe waits.
        if isinstance(self.system, SimulatedSystem):
            with self.system.controller.waiting(on_deadlock):
                yield
        else:
            yield


def _listing(messages: list[object]) -> str:
    return "[" + ", ".join(stable_repr(m) for m in messages) + "]"


_TIMED_OUT: Any = object()
