"""The delivery controller: holds every envelope and reply in flight and picks the next.

It implements the Delivery seam of the core. Once every task is blocked
(every actor idle or waiting on a reply that is itself in flight), it asks
the `Schedule` which candidate to deliver. Only the oldest message of each
sender -> recipient channel is a candidate, so per-sender FIFO always holds.
System messages and actor timers are candidates too (see _system_events):
held system messages come first, then envelopes and replies, then the next
timer, so choice 0 keeps the order of a run without them.
"""

from __future__ import annotations

import itertools
import math
from collections import deque
from collections.abc import Callable
from typing import Any, cast

import attrs

from .._errors import ActorError, ActorStopped
from .._lifecycle import STOPPED
from .._messages import Envelope, InjectedFailure, ReplySlot, TimerFired
from .._ref import ActorRef, current_sender
from .._timers import Timer
from . import _system_events as system_events
from ._deadlock import Deadlock, find_cycle
from ._faults import Crash, Delay, Drop, Duplicate, Fault, InjectedFault
from ._flights import Flight, step_for
from ._parking import Parking
from ._quiescence import wait_all_tasks_blocked
from ._schedule import Schedule, Trace
from ._virtual_clock import VirtualClock


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
        # The age of each flight; a simulated cluster gives all its systems
        # (and its network) one counter, so candidates compare across them.
        self.next_seq: Callable[[], int] = itertools.count(1).__next__
        self._delivered_to: dict[str, int] = {}
        self._held_system = 0  # system messages in flight
        # Delivered asks not yet answered: slot -> (asker or None, recipient).
        self._asks: dict[ReplySlot, tuple[ActorRef[Any] | None, ActorRef[Any]]] = {}
        self._parking = Parking()
        # Wakes the loop (something new may be deliverable); a simulated
        # cluster rebinds it (and `settle`) to its own.
        self.changed: Callable[[], None] = self._parking.changed
        self._waiting = 0
        self._deadlock_waiters: list[Callable[[Deadlock], None]] = []
        self.shutting_down = False

    # ------------------------------------------------------------ the Delivery seam

    def deliver(self, recipient: Any, envelope: Envelope) -> None:
        """Hold a user envelope in flight."""
        if type(envelope.message) is TimerFired:
            # An actor's timers reach it in deadline order: their own channel.
            channel: tuple[object, ...] = ("timer", recipient.ref)
        else:
            channel = (envelope.sender, recipient.ref)
        self._hold(Flight(0, channel, "tell", envelope.sender, recipient, envelope))

    def deliver_system(self, recipient: Any, message: object) -> None:
        """Hold a system message in flight, or deliver it now if it is atomic with its cause."""
        sender = current_sender.get()
        if not system_events.held(sender, recipient, shutting_down=self.shutting_down):
            recipient.enqueue_system(message)
            return
        channel = ("system", sender, recipient.ref)
        self._held_system += 1
        self._hold(Flight(0, channel, "system", sender, recipient, None, message))

    def reply(self, slot: Any, value: object, error: BaseException | None) -> bool:
        """Hold an ask's reply in flight; False if nobody waits for it any more."""
        if slot.done:
            return False
        replier = current_sender.get()
        self._hold(Flight(0, ("reply", slot), "reply", replier, slot, None, value, error))
        return True

    def _hold(self, flight: Flight) -> None:
        flight.seq = self.next_seq()
        self._channels.setdefault(flight.channel, deque()).append(flight)
        self.changed()

    # ------------------------------------------------------------ queries

    def in_flight(self) -> int:
        """How many envelopes, replies and system messages are held."""
        return sum(len(queue) for queue in self._channels.values())

    def ready(self) -> list[Flight]:
        """The deliverable flights: held system messages, then the rest, each oldest first."""
        now = self.clock.now()
        heads = [queue[0] for queue in self._channels.values() if queue]
        ready = [flight for flight in heads if flight.not_before <= now]
        ready.sort(key=lambda flight: flight.seq)
        if self._held_system:
            ready = self._system_first(ready)
        return ready

    def _candidates(self) -> list[Flight]:
        ready = self.ready()
        timers = self.system.timer_queue
        if ready and len(timers) and not self.shutting_down:
            # The next actor timer may fire before the messages in flight
            # arrive: time moves to its deadline only if it is chosen, so
            # choice 0 still moves time only when nothing else can happen.
            timer = system_events.next_timer(timers, self.clock)
            if timer is not None:
                ready.append(Flight(0, None, "timer", None, timer.cell, value=timer))
        return ready

    def _system_first(self, ready: list[Flight]) -> list[Flight]:
        """Held system messages first; no user message overtakes its sender's system message."""
        system = [flight for flight in ready if flight.kind == "system"]
        rest = []
        for flight in ready:
            if flight.kind == "tell":
                held = self._channels.get(("system", *flight.channel))  # type: ignore[misc]
                if held and held[0].seq < flight.seq:
                    continue
            if flight.kind != "system":
                rest.append(flight)
        return system + rest

    def next_delayed(self) -> float:
        """The earliest time a delayed flight may be delivered (``math.inf``: none)."""
        return self._next_delayed()

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
                cycle = find_cycle(self._asks)
                if cycle is not None:
                    self._declare(Deadlock(cycle=tuple(cycle)))
            stuck = self.deadlock is not None and not self.shutting_down
            await self._parking.jump_or_park(self.clock, None if stuck else self._next_time())

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

    def wants_time(self) -> bool:
        """Whether something waits for the system, so that virtual time may jump."""
        return bool(self._waiting) or self.shutting_down or self._test_asks_pending()

    def check_deadlock(self) -> None:
        """Declare a deadlock if the unanswered asks form a cycle (once)."""
        if self.deadlock is None:
            cycle = find_cycle(self._asks)
            if cycle is not None:
                self._declare(Deadlock(cycle=tuple(cycle)))

    def _test_asks_pending(self) -> bool:
        return any(asker is None and not slot.done for slot, (asker, _) in self._asks.items())

    def _step(self) -> bool:
        candidates = self._candidates()
        if not candidates:
            return False
        count = len(candidates)
        choice = self.schedule.choose(count)
        self.take(candidates[choice], choice, count)
        return True

    def take(self, flight: Flight, choice: int, count: int) -> None:
        """Deliver (or fault) *flight*, chosen as *choice* of *count*; one trace step."""
        if flight.kind == "timer":
            fired = self._fire(cast(Timer, flight.value), choice, count)
            if fired is None:
                return
            flight = fired
        # Deliver (or fault) the flight, the head of its channel.
        queue = self._channels[flight.channel]
        fault = self._fault_for(flight) if flight.kind == "tell" else None
        if isinstance(fault, Delay):
            flight.not_before = self.clock.now() + fault.seconds
            # The choice stays in `made`: a replay makes the same choose() calls.
            self._record(flight, choice, count, fault)
            return
        queue.popleft()
        if not queue:
            del self._channels[flight.channel]
        self._record(flight, choice, count, fault)
        if flight.kind == "system":
            self._held_system -= 1
            flight.target.enqueue_system(flight.value)
        elif isinstance(fault, Drop):
            self._drop(flight)
        elif flight.kind == "reply":
            self._complete(flight)
        else:
            self._deliver_envelope(flight, fault)

    def _fire(self, timer: Timer, choice: int, candidates: int) -> Flight | None:
        """Move time to *timer*'s deadline; the envelope to deliver now (its actor's next timer)."""
        self.clock.jump_to(timer.deadline)
        # Fire it here, not in the timer task: this step must deliver it.
        self.system.timer_queue.fire_due()
        cell = timer.cell
        queue = self._channels.get(("timer", cell.ref))
        if queue:
            return queue[0]
        # Nothing is in flight for it: the actor had closed, so it is a dead letter already.
        self._record(Flight(0, None, "timer", None, cell, value=timer), choice, candidates, None)
        return None

    def _drop(self, flight: Flight) -> None:
        """A `Drop` fault: the message becomes a dead letter; an ask of it waits for its timeout."""
        envelope = flight.envelope
        assert envelope is not None
        if envelope.reply is not None:
            # Its asker still waits: only its timeout can end that, so
            # virtual time must be allowed to reach it.
            self._asks[envelope.reply] = (envelope.sender, flight.target.ref)
        self.system.dead_letter(envelope.message, flight.target.ref, flight.sender)

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
            copy.seq = self.next_seq()
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
        asker = self._asks.get(flight.target, (None, None))[0] if flight.kind == "reply" else None
        number = len(self.trace) + 1
        self.trace.append(step_for(flight, asker, number, choice, candidates, fault))

    # ------------------------------------------------------------ deadlocks

    def _declare(self, deadlock: Deadlock) -> None:
        self.deadlock = deadlock
        # Test code waiting on an ask or a probe would wait for ever: tell it now.
        for slot, (asker, _) in list(self._asks.items()):
            if asker is None and not slot.done:
                slot.set_error(deadlock)
        for on_deadlock in list(self._deadlock_waiters):
            on_deadlock(deadlock)

    def fail_test_asks(self) -> None:
        """Fail test code's asks still unanswered with `ActorStopped` (the system has stopped)."""
        for slot, (asker, recipient) in list(self._asks.items()):
            if asker is None and not slot.done:
                slot.set_error(ActorStopped(path=recipient.path, message_type="ask"))

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
        await self._parking.wait_settled()
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
                elif flight.kind == "system" and flight.target.state is STOPPED:
                    # It arrives at a stopped actor: a Watch is answered, a notice
                    # becomes a dead letter, the rest has nothing left to do.
                    flight.target.enqueue_system(flight.value)
        self._channels.clear()
        self._held_system = 0


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
