"""The delivery controller: holds every envelope and reply in flight and picks the next.

It implements the Delivery seam of the core. Once every task is blocked
(every actor idle or waiting on a reply that is itself in flight), it asks
the `Schedule` which candidate to deliver. Only the oldest message of each
sender -> recipient channel is a candidate, so per-sender FIFO always holds.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from typing import Any

import anyio
import attrs

from .._errors import ActorError, ActorStopped
from .._messages import Envelope, InjectedFailure, ReplySlot, TimerFired
from .._ref import ActorRef, current_sender
from ._faults import Crash, Delay, Drop, Duplicate, Fault, InjectedFault
from ._quiescence import wait_all_tasks_blocked
from ._schedule import Schedule, Step, Trace, stable_repr
from ._virtual_clock import VirtualClock


@attrs.define(auto_exc=True, str=False, repr=False, slots=False)
class Deadlock(ActorError):
    """Actors wait on each other's replies and nothing in flight can free them.

    Attributes:
        cycle: the paths of the actors in the cycle, each asking the next
            (and the last asking the first).
    """

    cycle: tuple[str, ...] = ()

    def __str__(self) -> str:
        pairs = [
            f"{asker} asks {self.cycle[(i + 1) % len(self.cycle)]}"
            for i, asker in enumerate(self.cycle)
        ]
        return (
            f"deadlock: {'; '.join(pairs)}; nothing in flight can answer them "
            f"(a cycle of asks: answer one of them with a tell instead)"
        )


@attrs.define(eq=False)
class Flight:
    """One envelope (or reply) held in flight."""

    seq: int
    channel: object
    kind: str  # "tell" | "reply"
    sender: ActorRef[Any] | None
    target: Any  # a Cell for "tell"; the ReplySlot for "reply"
    envelope: Envelope | None = None
    value: object = None
    error: BaseException | None = None
    not_before: float = -math.inf
    inspected: bool = False  # faults were matched against it already


def _path(ref: ActorRef[Any] | None) -> str:
    return "test" if ref is None else ref.path


class Controller:
    """The Delivery of a `SimulatedSystem` (see the module docstring)."""

    def __init__(self, schedule: Schedule, clock: VirtualClock, faults: tuple[Fault, ...]) -> None:
        # A used Schedule starts over from its first step (a copy); a fresh
        # one is used as is, so its `made` list is the caller's to read.
        self.schedule = schedule.fresh() if schedule.made else schedule
        self.clock = clock
        self.trace = Trace()
        self.deadlock: Deadlock | None = None
        self.system: Any = None  # the SimulatedSystem, set when it starts
        self._faults = list(faults)
        self._channels: dict[object, deque[Flight]] = {}
        self._seq = 0
        self._delivered_to: dict[str, int] = {}
        # Delivered asks not yet answered: slot -> (asker or None, recipient).
        self._asks: dict[ReplySlot, tuple[ActorRef[Any] | None, ActorRef[Any]]] = {}
        self._changed = anyio.Event()
        self._settlers: list[anyio.Event] = []
        self._waiting = 0
        self._deadlock_waiters: list[Callable[[Deadlock], None]] = []
        self.shutting_down = False

    # ------------------------------------------------------------ the Delivery seam

    def deliver(self, recipient: Any, envelope: Envelope) -> None:
        """Hold a user envelope in flight."""
        channel = (envelope.sender, recipient.ref)
        self._hold(Flight(0, channel, "tell", envelope.sender, recipient, envelope))

    def reply(self, slot: Any, value: object, error: BaseException | None) -> bool:
        """Hold an ask's reply in flight; False if nobody waits for it any more."""
        if slot.done:
            return False
        replier = current_sender.get()
        self._hold(Flight(0, ("reply", slot), "reply", replier, slot, None, value, error))
        return True

    def _hold(self, flight: Flight) -> None:
        self._seq += 1
        flight.seq = self._seq
        self._channels.setdefault(flight.channel, deque()).append(flight)
        self.changed()

    def changed(self) -> None:
        """Wake the controller loop (something new may be deliverable)."""
        self._changed.set()

    # ------------------------------------------------------------ queries

    def in_flight(self) -> int:
        """How many envelopes and replies are held."""
        return sum(len(queue) for queue in self._channels.values())

    def _candidates(self) -> list[Flight]:
        now = self.clock.now()
        heads = [queue[0] for queue in self._channels.values() if queue]
        ready = [flight for flight in heads if flight.not_before <= now]
        ready.sort(key=lambda flight: flight.seq)
        return ready

    def _next_delayed(self) -> float:
        delayed = [q[0].not_before for q in self._channels.values() if q]
        return min(delayed, default=math.inf)

    # ------------------------------------------------------------ the loop

    async def run(self) -> None:
        """Deliver, one at a time, whenever every other task is blocked."""
        while True:
            await wait_all_tasks_blocked()
            if self._step():
                continue
            if self.deadlock is None:
                cycle = self._find_cycle()
                if cycle is not None:
                    self._declare(Deadlock(cycle=tuple(cycle)))
            if self.deadlock is None or self.shutting_down:
                when = self._next_time()
                if when is not None:
                    self.clock.jump_to(when)
                    self.changed()
                    continue
            for settler in self._settlers:
                settler.set()
            self._settlers.clear()
            self._changed = anyio.Event()
            await self._changed.wait()

    def _next_time(self) -> float | None:
        """Where virtual time should jump now, or None to stay put."""
        delayed = self._next_delayed()
        if delayed < math.inf:
            # Delayed messages are in flight: settling means delivering them.
            return min(delayed, self.clock.next_deadline())
        waiting = self._waiting or self.shutting_down or self._test_asks_pending()
        deadline = self.clock.next_deadline()
        if waiting and deadline < math.inf:
            return deadline
        return None

    def _test_asks_pending(self) -> bool:
        return any(asker is None and not slot.done for slot, (asker, _) in self._asks.items())

    def _step(self) -> bool:
        candidates = self._candidates()
        if not candidates:
            return False
        choice = self.schedule.choose(len(candidates))
        flight = candidates[choice]
        queue = self._channels[flight.channel]
        fault = self._fault_for(flight)
        if isinstance(fault, Delay):
            flight.not_before = self.clock.now() + fault.seconds
            # The choice stays in `made`: a replay makes the same choose() calls.
            self._record(flight, choice, len(candidates), fault)
            return True
        queue.popleft()
        if not queue:
            del self._channels[flight.channel]
        self._record(flight, choice, len(candidates), fault)
        if isinstance(fault, Drop):
            envelope = flight.envelope
            assert envelope is not None
            if envelope.reply is not None:
                # Its asker still waits: only its timeout can end that, so
                # virtual time must be allowed to reach it.
                self._asks[envelope.reply] = (envelope.sender, flight.target.ref)
            self.system.dead_letter(envelope.message, flight.target.ref, flight.sender)
        elif flight.kind == "reply":
            self._complete(flight)
        else:
            self._deliver_envelope(flight, fault)
        return True

    def _fault_for(self, flight: Flight) -> Fault | None:
        if flight.kind != "tell" or flight.inspected:
            return None
        flight.inspected = True
        if not self._faults:
            return None
        path = flight.target.path
        count = self._delivered_to.get(path, 0) + 1
        self._delivered_to[path] = count
        for fault in self._faults:
            if isinstance(fault, Crash):
                hit = fault.actor == path and fault.at_message == count
            else:
                hit = fault.to in (None, path) and fault.nth == (
                    count if fault.to is not None else self._total_delivered()
                )
            if hit:
                self._faults.remove(fault)
                return fault
        return None

    def _total_delivered(self) -> int:
        return sum(self._delivered_to.values())

    def _deliver_envelope(self, flight: Flight, fault: Fault | None) -> None:
        envelope = flight.envelope
        assert envelope is not None
        cell = flight.target
        if isinstance(fault, Crash):
            error = InjectedFault(actor=cell.path, at_message=fault.at_message)
            envelope = Envelope(
                InjectedFailure(error, envelope.message), envelope.sender, envelope.reply
            )
        elif isinstance(fault, Duplicate):
            duplicate = Envelope(envelope.message, envelope.sender)
            copy = Flight(0, flight.channel, "tell", flight.sender, cell, duplicate)
            copy.inspected = True  # not matched against faults, not counted
            self._seq += 1
            copy.seq = self._seq
            # Right behind the original: it arrives next on this channel.
            self._channels.setdefault(flight.channel, deque()).appendleft(copy)
        if envelope.reply is not None:
            self._asks[envelope.reply] = (envelope.sender, cell.ref)
        try:
            dropped = cell.enqueue(envelope)
        except ActorError as error:
            # A bounded mailbox refused it at delivery time (the sender is long
            # gone): it becomes a dead letter, and an ask of it fails.
            self.trace[-1] = attrs.evolve(self.trace[-1], kind="refused")
            if envelope.reply is not None:
                envelope.reply.set_error(error)
            self.system.dead_letter(envelope.message, cell.ref, envelope.sender)
            return
        if dropped is envelope:  # DROP_NEWEST: it became a dead letter on arrival
            self.trace[-1] = attrs.evolve(self.trace[-1], kind="refused")

    def _complete(self, flight: Flight) -> None:
        slot: ReplySlot = flight.target
        self._asks.pop(slot, None)
        if flight.error is not None:
            done = slot.set_error(flight.error)
        else:
            done = slot.set_result(flight.value)
        if not done and flight.error is None:
            self.system.dead_letter(flight.value, None, flight.sender)

    def _record(self, flight: Flight, choice: int, candidates: int, fault: Fault | None) -> None:
        if flight.kind == "reply":
            slot: ReplySlot = flight.target
            asker = self._asks.get(slot, (None, None))[0]
            kind = "reply" if flight.error is None else "error"
            shown = flight.value if flight.error is None else flight.error
            recipient = _path(asker)
        else:
            assert flight.envelope is not None
            kind = "ask" if flight.envelope.reply is not None else "tell"
            shown = flight.envelope.message
            recipient = flight.target.path
            if isinstance(shown, TimerFired):
                # The actor's own timer, not test code: show it as such.
                kind, shown = "timer", shown.message
        if fault is not None:
            kind = type(fault).__name__.lower()
        sender = "timer" if kind == "timer" else _path(flight.sender)
        self.trace.append(
            Step(
                len(self.trace) + 1,
                sender,
                recipient,
                kind,
                stable_repr(shown),
                choice,
                candidates,
            )
        )

    # ------------------------------------------------------------ deadlocks

    def _find_cycle(self) -> list[str] | None:
        waits: dict[str, str] = {}
        for slot, (asker, recipient) in self._asks.items():
            if asker is not None and not slot.done:
                waits[asker.path] = recipient.path
        for start in sorted(waits):
            seen: list[str] = []
            node: str | None = start
            while node is not None and node not in seen:
                seen.append(node)
                node = waits.get(node)
            if node is not None:
                return seen[seen.index(node) :]
        return None

    def _declare(self, deadlock: Deadlock) -> None:
        self.deadlock = deadlock
        # Test code waiting on an ask or a probe would wait for ever: tell it now.
        for slot, (asker, _) in list(self._asks.items()):
            if asker is None and not slot.done:
                slot.set_error(deadlock)
        for on_deadlock in list(self._deadlock_waiters):
            on_deadlock(deadlock)

    def break_deadlock(self) -> None:
        """Fail the asks of the cycle with the Deadlock (so that shutdown can finish)."""
        if self.deadlock is None:
            return
        members = set(self.deadlock.cycle)
        for slot, (asker, _) in list(self._asks.items()):
            if asker is not None and asker.path in members and not slot.done:
                # Each gets its own copy: the actors' notes must not pile up on
                # the exception the test already caught.
                slot.set_error(Deadlock(cycle=self.deadlock.cycle))

    # ------------------------------------------------------------ waiting

    async def settle(self) -> None:
        """Return once nothing is deliverable or delayed; raise `Deadlock` if stuck."""
        event = anyio.Event()
        self._settlers.append(event)
        self.changed()
        await event.wait()
        if self.deadlock is not None:
            raise self.deadlock

    def waiting(self, on_deadlock: Callable[[Deadlock], None] | None = None) -> _Waiting:
        """A context in which virtual time may jump ahead (the test waits for the system).

        *on_deadlock* is called if a deadlock is (or was already) declared
        meanwhile: time will not move again, so the waiter must give up.
        """
        return _Waiting(self, on_deadlock)

    def drop_all(self) -> None:
        """Dead-letter everything still in flight (the system has shut down)."""
        for queue in list(self._channels.values()):
            for flight in queue:
                if flight.kind == "tell" and flight.envelope is not None:
                    if flight.envelope.reply is not None:
                        flight.envelope.reply.set_error(
                            ActorStopped(
                                path=flight.target.path,
                                message_type=type(flight.envelope.message).__name__,
                            )
                        )
                    self.system.dead_letter(
                        flight.envelope.message, flight.target.ref, flight.sender
                    )
        self._channels.clear()


class _Waiting:
    def __init__(
        self, controller: Controller, on_deadlock: Callable[[Deadlock], None] | None
    ) -> None:
        self._controller = controller
        self._on_deadlock = on_deadlock

    def __enter__(self) -> None:
        controller = self._controller
        controller._waiting += 1
        if self._on_deadlock is not None:
            if controller.deadlock is not None:
                self._on_deadlock(controller.deadlock)
            controller._deadlock_waiters.append(self._on_deadlock)
        controller.changed()

    def __exit__(self, *exc: object) -> None:
        controller = self._controller
        controller._waiting -= 1
        if self._on_deadlock is not None:
            controller._deadlock_waiters.remove(self._on_deadlock)
