"""ClusterController: one schedule and one trace over every node's Controller and the network.

It knows the nodes' controllers, the simulated network and the shared clock;
it never starts, crashes or restarts a node (that is `SimulatedCluster`'s).
See `_sim_cluster` for why several controllers are composed, not merged.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from typing import Any, cast

import anyio

from ._controller import Controller
from ._flights import Flight
from ._network import Packet, SimulatedNetwork
from ._parking import Parking
from ._quiescence import wait_all_tasks_blocked
from ._schedule import Schedule, Step, Trace
from ._system_events import next_timer
from ._virtual_clock import NodeClock, VirtualClock

_SCHEME = "actorlib://"


def _on(node: str, who: str) -> str:
    """A path of node *node*'s trace as the cluster's trace shows it: ``n1:/user/x``."""
    if who in ("test", "timer"):
        return who
    if who.startswith(_SCHEME):
        peer, _, path = who[len(_SCHEME) :].partition("/")
        return f"{peer}:/{path}"
    return f"{node}:{who}"


class ClusterController:
    """Chooses every delivery of a simulated cluster (see the module docstring)."""

    def __init__(self, schedule: Schedule, clock: VirtualClock, network: SimulatedNetwork) -> None:
        self.schedule = schedule.fresh() if schedule.made else schedule
        self.clock = clock
        self.network = network
        self.trace = Trace()
        self.next_seq: Callable[[], int] = itertools.count(1).__next__
        network.next_seq = self.next_seq
        network.changed = self.changed
        network.record = self.note
        self.controllers: dict[str, Controller] = {}
        self.clocks: dict[str, NodeClock] = {}
        # Called before each choice with the number of the step to come.
        self.before_step: Callable[[int], None] = lambda number: None
        self.invariants: list[tuple[str, Callable[[], object]]] = []
        self.failure: BaseException | None = None
        self.waiting_scopes: list[anyio.CancelScope] = []  # `sim.waiting()` blocks
        self.frozen = False  # an invariant failed: nothing moves until teardown
        self._checked = True  # the invariants saw the last step's effects
        self._parking = Parking()
        self._waiting = 0

    # ------------------------------------------------------------ nodes

    def attach(self, name: str, controller: Controller, clock: NodeClock) -> None:
        """Drive node *name*'s controller from now on (its own loop never runs)."""
        controller.next_seq = self.next_seq
        # Instance attributes: the node's system wakes and settles the cluster.
        controller.changed = self.changed
        controller.settle = self.settle  # type: ignore[method-assign]
        self.controllers[name] = controller
        self.clocks[name] = clock

    def detach(self, name: str, controller: Controller) -> None:
        """Forget a node's controller once its system has stopped."""
        if self.controllers.get(name) is controller:
            del self.controllers[name]
        self.changed()

    def changed(self) -> None:
        """Wake the loop (something may be deliverable)."""
        self._parking.changed()

    def note(self, sender: str, recipient: str, kind: str, message: str) -> None:
        """Record a step that was no choice of the schedule (a fault, a message lost)."""
        self.trace.append(Step(len(self.trace) + 1, sender, recipient, kind, message, 0, 0))

    # ------------------------------------------------------------ candidates

    def _candidates(self) -> list[tuple[Controller | None, Any]]:
        system: list[tuple[Controller | None, Any]] = []
        rest: list[tuple[Controller | None, Any]] = []
        for controller in self.controllers.values():
            for flight in controller.ready():
                (system if flight.kind == "system" else rest).append((controller, flight))
        for packet in self.network.ready():
            rest.append((None, packet))
        if len(system) > 1:
            system.sort(key=lambda pair: pair[1].seq)
        if len(rest) > 1:
            rest.sort(key=lambda pair: pair[1].seq)
        ready = system + rest
        if ready:
            timer = self._next_timer()
            if timer is not None:
                ready.append(timer)
        return ready

    def _next_timer(self) -> tuple[Controller, Flight] | None:
        """The actor timer of the whole cluster that may fire now, ahead of what is in flight."""
        best: tuple[float, Controller, Any] | None = None
        for name, controller in self.controllers.items():
            if controller.shutting_down:
                continue
            clock = self.clocks[name]
            timer = next_timer(controller.system.timer_queue, clock)
            if timer is not None:
                when = timer.deadline - clock.offset
                if best is None or when < best[0]:
                    best = (when, controller, timer)
        if best is None:
            return None
        _, controller, timer = best
        return controller, Flight(0, None, "timer", None, timer.cell, value=timer)

    # ------------------------------------------------------------ the loop

    async def run(self) -> None:
        """Deliver, one at a time, whenever every task of every node is blocked."""
        while True:
            await wait_all_tasks_blocked()
            if not self._checked:
                self._checked = True
                self._check_invariants()
            if not self.frozen and self._step():
                continue
            for controller in list(self.controllers.values()):
                controller.check_deadlock()
            await self._parking.jump_or_park(self.clock, None if self.frozen else self._next_time())

    def _step(self) -> bool:
        self.before_step(len(self.schedule.made) + 1)
        candidates = self._candidates()
        if not candidates:
            return False
        count = len(candidates)
        choice = self.schedule.choose(count)
        owner, flight = candidates[choice]
        number = len(self.trace) + 1
        if owner is None:
            sender, recipient, kind, text = self.network.take(cast(Packet, flight))
            self.trace.append(Step(number, sender, recipient, kind, text, choice, count))
        else:
            owner.take(flight, choice, count)
            step = owner.trace[-1]
            node = owner.system.name
            self.trace.append(
                Step(
                    number,
                    _on(node, step.sender),
                    _on(node, step.recipient),
                    step.kind,
                    step.message,
                    choice,
                    count,
                )
            )
        self._checked = not self.invariants
        return True

    def _check_invariants(self) -> None:
        for name, predicate in self.invariants:
            try:
                held = predicate()
            except AssertionError as error:
                self._fail(AssertionError(f"{name} failed after step {len(self.trace)}: {error}"))
                return
            if not held:
                self._fail(AssertionError(f"{name} did not hold after step {len(self.trace)}"))
                return

    def _fail(self, failure: BaseException) -> None:
        self.failure = failure
        self.frozen = True
        for scope in self.waiting_scopes:
            scope.cancel()
        for controller in self.controllers.values():
            for slot, (asker, _) in list(controller._asks.items()):
                if asker is None and not slot.done:
                    slot.set_error(failure)  # test code waits on it: no time will pass
            for on_deadlock in list(controller._deadlock_waiters):
                # Whoever waits on the system gives up: nothing moves any more.
                on_deadlock(failure)  # type: ignore[arg-type]
        self.changed()

    def _next_time(self) -> float | None:
        """Where the shared time should jump now, or None to stay put."""
        delayed = self.network.next_delayed()
        for name, controller in self.controllers.items():
            delayed = min(delayed, controller.next_delayed() - self.clocks[name].offset)
        deadline = self.clock.next_deadline()
        if delayed < math.inf:
            return min(delayed, deadline)
        waiting = self._waiting or any(c.wants_time() for c in self.controllers.values())
        if waiting and deadline < math.inf:
            return deadline
        return None

    # ------------------------------------------------------------ waiting

    def raise_failure(self) -> None:
        """Raise the invariant that failed, or a node's deadlock, if any."""
        if self.failure is not None:
            raise self.failure
        for controller in self.controllers.values():
            if controller.deadlock is not None:
                raise controller.deadlock

    async def settle(self) -> None:
        """Return once nothing is deliverable or delayed anywhere in the cluster."""
        await self._parking.wait_settled()
        self.raise_failure()


class _ClusterWaiting:
    def __init__(self, controller: ClusterController) -> None:
        self._controller = controller
        self._scope: anyio.CancelScope | None = None

    def __enter__(self) -> None:
        self._controller._waiting += 1
        self._controller.changed()

    def __exit__(self, *exc: object) -> None:
        self._controller._waiting -= 1

    async def __aenter__(self) -> None:
        # An invariant that fails freezes the cluster: what the block awaits
        # would never come, so the failure cancels it and is raised instead.
        self._scope = anyio.CancelScope()
        self._scope.__enter__()
        self._controller.waiting_scopes.append(self._scope)
        if self._controller.failure is not None:
            self._scope.cancel()
        self.__enter__()

    async def __aexit__(self, *exc: Any) -> bool | None:
        self.__exit__()
        scope = self._scope
        assert scope is not None
        self._controller.waiting_scopes.remove(scope)
        scope.__exit__(*exc)
        if scope.cancelled_caught and self._controller.failure is not None:
            raise self._controller.failure
        return None
