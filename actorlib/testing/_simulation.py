"""SimulatedSystem: a real ActorSystem whose deliveries and time are chosen by a schedule."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from types import TracebackType
from typing import Any

import anyio

from .._system import ActorSystem
from ._controller import Controller
from ._faults import Fault
from ._schedule import Schedule
from ._scheduled_run import ScheduledRun, schedule_or_fifo
from ._virtual_clock import VirtualClock


class SimulatedSystem(ScheduledRun, ActorSystem):
    """An `ActorSystem` with its Delivery and Clock seams under a schedule's control.

    Used exactly like an ActorSystem (``async with``, ``spawn``, ``tell``,
    ``ask``): the actors are real. Every envelope, every reply and every
    system message between two actors stays in flight until the schedule
    picks it, once every actor is idle or blocked on a reply that is itself
    in flight. Time is a `VirtualClock`; it jumps to the next deadline when
    the test waits for the system (an ``ask`` from test code, a probe's
    ``expect``, `eventually`) or when a delayed message must be delivered
    to settle, and the schedule may fire the next actor timer before the
    messages in flight (see docs/testing.md).

    When the block raises, the delivery trace and the exact replay are
    attached to the exception (and noted for hypothesis's report).

    Args:
        name: the system's name.
        schedule: which delivery goes next (default `Schedule.fifo()`).
        faults: crashes, drops, duplicates and delays to inject.
        clock: the virtual clock (a new one at 0.0 by default).
        options: any other `ActorSystem` keyword argument.
    """

    _noun = "system"
    controller: Controller

    def __init__(
        self,
        name: str = "sim",
        *,
        schedule: Schedule | None = None,
        faults: Sequence[Fault] = (),
        clock: VirtualClock | None = None,
        **options: Any,
    ) -> None:
        self.virtual_clock = clock if clock is not None else VirtualClock()
        if not isinstance(self.virtual_clock, VirtualClock):
            raise TypeError(f"clock must be a VirtualClock, got {clock!r}")
        self._faults = tuple(faults)
        self.controller = Controller(schedule_or_fifo(schedule), self.virtual_clock, self._faults)
        options.setdefault("random_seed", 0)  # backoff jitter repeats exactly on replay
        super().__init__(name, clock=self.virtual_clock, delivery=self.controller, **options)
        self.controller.system = self
        self._controller_scope: anyio.CancelScope | None = None

    async def __aenter__(self) -> SimulatedSystem:
        await super().__aenter__()
        self.virtual_clock.quiesce = self._quiesce
        self._start_runtime_task(self._run_controller)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        self._give_report(self.report(), exc)
        return await super().__aexit__(exc_type, exc, tb)

    def report(self) -> str:
        """The delivery trace and the code that replays this run exactly."""
        return (
            f"delivery trace of {self.name!r} ({self._deliveries()} deliveries):\n"
            f"{self.trace}\n"
            f"replay it with: SimulatedSystem(schedule={self.schedule.replay_code()}"
            + (f", faults={list(self._faults)!r})" if self._faults else ")")
        )

    def _deliveries(self) -> int:
        return sum(1 for step in self.trace if step.kind != "delay")

    async def _run_controller(self) -> None:
        with anyio.CancelScope() as scope:
            self._controller_scope = scope
            await self.controller.run()

    async def _quiesce(self) -> None:
        await self.controller.settle()

    async def shutdown(self) -> None:
        """Stop every actor (in-flight messages become dead letters), then the controller."""
        self.controller.shutting_down = True
        self.controller.break_deadlock()
        self.controller.changed()
        try:
            await super().shutdown()
        finally:
            self.controller.drop_all()
            if self._controller_scope is not None:
                self._controller_scope.cancel()


async def eventually(
    system: SimulatedSystem,
    predicate: Callable[[], bool | Awaitable[bool]],
    *,
    within: float = 60.0,
) -> None:
    """`SimulatedSystem.eventually` as a function (a liveness check)."""
    await system.eventually(predicate, within=within)
