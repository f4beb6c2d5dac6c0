"""Per-actor keyed timers on the system's timer queue; they deliver to the actor's mailbox."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import attrs

from ._clock import TimerHandle
from ._messages import Envelope, TimerFired

if TYPE_CHECKING:
    from ._cell import Cell


def _check_seconds(what: str, value: object, *, allow_zero: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{what} must be a number of seconds, got {value!r}")
    if math.isnan(value) or math.isinf(value) or value < 0 or (value == 0 and not allow_zero):
        rule = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{what} must be a finite number of seconds {rule}, got {value!r}")
    return float(value)


@attrs.define(eq=False)
class Timer:
    """One armed timer; it is its own timer-queue callback.

    Being a callback of a known type (not a closure) lets a simulated run
    find the actor timers among the timer queue's entries and fire one
    early, before messages in flight (actorlib.testing).
    """

    owner: Timers
    key: object
    generation: int
    message: object
    interval: float | None  # None: single shot
    deadline: float
    handle: TimerHandle | None = None

    @property
    def cell(self) -> Cell:
        """The actor whose timer this is."""
        return self.owner._cell

    def __call__(self) -> None:
        self.owner._fire(self.key, self)


class Timers:
    """An actor's own timers, keyed: starting a key in use replaces that timer.

    A timer's message arrives through the mailbox like any other message.
    A cancelled timer never delivers, even if it had already fired and its
    message was waiting in the mailbox. Restart and stop cancel every timer.
    """

    __slots__ = ("_active", "_cell", "_generation")

    def __init__(self, cell: Cell) -> None:
        self._cell = cell
        self._active: dict[object, Timer] = {}
        self._generation = 0

    def start_single(self, key: object, message: object, delay: float) -> None:
        """Deliver *message* once, after *delay* seconds.

        Raises:
            ValueError: *delay* is negative, NaN or infinite.
        """
        self._start(key, message, _check_seconds("delay", delay, allow_zero=True), None)

    def start_periodic(self, key: object, message: object, interval: float) -> None:
        """Deliver *message* every *interval* seconds, the first time after one interval.

        Raises:
            ValueError: *interval* is not a finite number > 0.
        """
        interval = _check_seconds("interval", interval, allow_zero=False)
        self._start(key, message, interval, interval)

    def cancel(self, key: object) -> None:
        """Cancel the timer under *key* (no error if there is none)."""
        timer = self._active.pop(key, None)
        if timer is not None and timer.handle is not None:
            timer.handle.cancel()

    def cancel_all(self) -> None:
        """Cancel every timer of this actor."""
        for timer in self._active.values():
            if timer.handle is not None:
                timer.handle.cancel()
        self._active.clear()

    def is_active(self, key: object) -> bool:
        """True if a timer under *key* is pending (or fired but not yet handled)."""
        return key in self._active

    def __len__(self) -> int:
        return len(self._active)

    def _start(self, key: object, message: object, delay: float, interval: float | None) -> None:
        self.cancel(key)
        self._generation += 1
        queue = self._cell.system.timer_queue
        timer = Timer(self, key, self._generation, message, interval, queue.clock.now() + delay)
        self._active[key] = timer
        self._arm(key, timer)

    def _arm(self, key: object, timer: Timer) -> None:
        timer.handle = self._cell.system.timer_queue.call_at(timer.deadline, timer)

    def _fire(self, key: object, timer: Timer) -> None:
        if self._active.get(key) is not timer:
            return
        timer.handle = None
        self._cell.post_from_runtime(Envelope(TimerFired(key, timer.generation, timer.message)))
        if timer.interval is not None:
            # Fixed rate on the deadline grid; skip missed ticks rather than bursting.
            now = self._cell.system.timer_queue.clock.now()
            timer.deadline = max(timer.deadline + timer.interval, now)
            self._arm(key, timer)

    def claim(self, fired: TimerFired) -> bool:
        """Whether a fired message is still wanted (its timer was not cancelled)."""
        timer = self._active.get(fired.key)
        if timer is None or timer.generation != fired.generation:
            return False
        if timer.interval is None:
            del self._active[fired.key]
        return True
