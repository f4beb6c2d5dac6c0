"""What every simulation shows its test: its schedule and trace, settling, eventually, its report.

It knows a controller's face (schedule, trace, clock, settle); it must not
know actor systems, nodes or the network.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Awaitable, Callable
from typing import ClassVar, Protocol

import anyio

from ._schedule import Schedule, Trace
from ._virtual_clock import VirtualClock


class _Driver(Protocol):
    """A controller as a simulation's facade sees it (a system's or a cluster's)."""

    schedule: Schedule
    trace: Trace
    clock: VirtualClock

    def changed(self) -> None: ...

    async def settle(self) -> None: ...


def schedule_or_fifo(schedule: object) -> Schedule:
    """*schedule*, or `Schedule.fifo()` for None.

    Raises:
        TypeError: it is not a `Schedule`.
    """
    if schedule is None:
        return Schedule.fifo()
    if not isinstance(schedule, Schedule):
        raise TypeError(
            f"schedule must be a Schedule (Schedule.fifo(), Schedule.random(seed), "
            f"Schedule.replay(choices)), got {schedule!r}"
        )
    return schedule


class ScheduledRun:
    """The face shared by `SimulatedSystem` and `SimulatedCluster`: one schedule drives the run."""

    # What settles, as `eventually`'s failure names it.
    _noun: ClassVar[str]
    controller: _Driver

    @property
    def trace(self) -> Trace:
        """Every step so far, in order."""
        return self.controller.trace

    @property
    def schedule(self) -> Schedule:
        """The schedule in use (its ``made`` list is what replays this run)."""
        return self.controller.schedule

    def report(self) -> str:
        """The trace and the code that replays this run exactly."""
        raise NotImplementedError

    def _give_report(self, report: str, exc: BaseException | None) -> bool:
        """Give *report* once: as a hypothesis note, else on *exc*; whether it was noted."""
        # Inside a hypothesis test it is printed with the shrunk example.
        noted = note_for_hypothesis(report)
        if not noted and exc is not None and not isinstance(exc, anyio.get_cancelled_exc_class()):
            exc.add_note(report)
        return noted

    async def settle(self) -> None:
        """Deliver until nothing is deliverable or delayed (virtual time moves only for delays).

        Raises:
            Deadlock: actors wait on each other's replies with nothing in flight.
            AssertionError: in a cluster, an invariant given to `always` failed.
        """
        await self.controller.settle()

    async def eventually(
        self, predicate: Callable[[], bool | Awaitable[bool]], *, within: float = 60.0
    ) -> None:
        """Let the run go on (and virtual time pass) until *predicate* holds.

        Checks each time everything has settled, then moves virtual time to
        the next deadline (of any node, and of the store's TTLs, in a
        cluster); fails once no deadline is left within *within* virtual
        seconds.

        Raises:
            AssertionError: the predicate never held (or, in a cluster, an
                invariant failed).
            Deadlock: actors deadlocked first.
        """
        controller = self.controller
        clock = controller.clock
        deadline = clock.now() + within
        while True:
            await controller.settle()
            result = predicate()
            if inspect.isawaitable(result):
                result = await result
            if result:
                return
            # The predicate may have started or cancelled timers (an ask):
            # let that settle before reading the next deadline.
            await controller.settle()
            next_time = clock.next_deadline()
            if math.isinf(next_time) or next_time > deadline:
                break
            clock.jump_to(next_time)
            controller.changed()
        raise AssertionError(
            f"eventually({getattr(predicate, '__name__', predicate)}) did not hold within "
            f"{within:g} virtual seconds; the {self._noun} settled at t={clock.now():g}"
        )


def note_for_hypothesis(text: str) -> bool:
    """Note *text* for hypothesis's report if inside a hypothesis test; say if so."""
    # hypothesis is a test dependency, not a runtime one: import it only here.
    try:
        import hypothesis
    except ImportError:  # pragma: no cover - hypothesis is in the test extra
        return False
    if hypothesis.currently_in_test_context():
        hypothesis.note(text)
        return True
    return False
