"""ActorSystem: owns the task group, the guardian, the path registry, dead letters and events."""

from __future__ import annotations

import logging
import math
import random
import threading
from collections.abc import Callable, Coroutine, Sequence
from types import TracebackType
from typing import Any

import anyio
import anyio.abc
import attrs

from ._actor import Actor
from ._cell import Cell
from ._checks import check_name
from ._clock import Clock, MonotonicClock, TimerQueue
from ._deadletters import DeadLetters
from ._dispatch import Delivery, DirectDelivery, Dispatcher
from ._errors import SystemClosedError
from ._events import EventStream
from ._hooks import HandlerObserver, Tracing
from ._lifecycle import STOPPED, State, stop_here
from ._lowlevel import current_backend
from ._messages import Stop
from ._ref import ActorRef, AskContext, check_timeout, current_sender, ref_resolver
from ._registry import (
    ActorClassStatistics,
    ActorStatistics,
    DeadTarget,
    Registry,
    render_tree,
    snapshot_tree,
)
from ._runtime import Runtime, bind_backend
from ._spawner import Spawner
from ._spawning import spawn_placed, spawn_under
from ._supervision import SupervisorStrategy
from ._transport import Placement, SpawnSpec, Transport
from ._watchdog import Watchdog, check_threshold, current_poster

logger = logging.getLogger("actorlib")


class _Guardian(Actor):
    """The root of user actors (``/user``); it only supervises."""

    async def receive(self, message: object) -> None:
        return None


@attrs.frozen
class SystemStatistics:
    """A snapshot of a running system.

    Attributes:
        actors: live actors under ``/user`` (the guardian not counted).
        dead_letters: messages that could not be delivered so far.
        workers: dispatcher tasks alive.
        idle_workers: dispatcher tasks waiting for work.
        ready: actors with messages waiting for a worker.
        timers: pending timers (actor timers, ask timeouts, backoff delays).
    """

    actors: int
    dead_letters: int
    workers: int
    idle_workers: int
    ready: int
    timers: int


class ActorSystem(Spawner):
    """A tree of actors under one task group; enter it with ``async with``.

    Args:
        name: the system's name (letters, digits, '-', '_', '.').
        ask_timeout: the default timeout of `ActorRef.ask`, in seconds; None
            for no timeout.
        supervisor: the strategy for top-level actors (default ``OneForOne()``).
        clock: the Clock seam (default: the event loop's monotonic clock).
        throughput: messages an actor handles before a worker moves on to
            the next ready actor (fairness against throughput).
        shutdown_timeout: seconds `shutdown` waits for actors to stop
            gracefully before cancelling what is left (real time, not the Clock:
            it guards against handlers that never return).
        delivery: the Delivery seam (default: deliver at once); the
            deterministic scheduler of ``actorlib.testing`` installs its own.
        random_seed: seeds the system's random source (backoff jitter), for
            runs that must repeat exactly.
        transport: the Transport seam: how actors in other processes and
            machines are reached (``actorlib.remote``); None: this process only.
        slow_callback: seconds one step of a handler (or any task) may hold
            the event loop without yielding before a watchdog thread logs a
            WARNING naming the actor, the message type and the line it is
            blocked on; None or 0 disables the watchdog.

    Raises:
        ValueError: an invalid name or timeout.
        TypeError: arguments of the wrong type.
    """

    def __init__(
        self,
        name: str = "actorlib",
        *,
        ask_timeout: float | None = 5.0,
        supervisor: SupervisorStrategy | None = None,
        clock: Clock | None = None,
        throughput: int = 64,
        shutdown_timeout: float | None = 30.0,
        delivery: Delivery | None = None,
        random_seed: int | None = None,
        transport: Transport | None = None,
        slow_callback: float | None = 0.1,
    ) -> None:
        self.name = check_name(name, "system name")
        self.ask_timeout = check_timeout(ask_timeout, "ask_timeout")
        self.shutdown_timeout = check_timeout(shutdown_timeout, "shutdown_timeout")
        if supervisor is not None and not isinstance(supervisor, SupervisorStrategy):
            raise TypeError(
                f"supervisor must be a SupervisorStrategy such as OneForOne(), got {supervisor!r}"
            )
        if isinstance(throughput, bool) or not isinstance(throughput, int) or throughput < 1:
            raise ValueError(f"throughput must be an int >= 1, got {throughput!r}")
        if transport is not None and not isinstance(transport, Transport):
            raise TypeError(
                f"transport must implement start(), stop() and start_nodes(), got {transport!r}"
            )
        self.transport = transport
        self.slow_callback = check_threshold(slow_callback)
        self._watchdog: Watchdog | None = None
        if clock is not None and not isinstance(clock, Clock):
            raise TypeError(f"clock must implement now() and sleep_until(), got {clock!r}")
        self.default_strategy = supervisor
        self.clock: Clock = clock if clock is not None else MonotonicClock()
        self.delivery: Delivery = delivery if delivery is not None else DirectDelivery()
        # Lets the tell hot path skip the seam's indirection in production.
        self.direct_delivery = type(self.delivery) is DirectDelivery
        self.direct_asks = 0  # counts asks run in the asker's task (Cell.post_ask)
        # Cells that went idle keeping an empty user lane (see _loop.run).
        self.idle_lanes: list[Cell] = []
        self.random = random.Random(random_seed)
        self.events = EventStream(on_undelivered=self._event_undelivered)
        self.timer_queue = TimerQueue(self.clock)
        self.ask_context: AskContext = (None, self.ask_timeout, self.timer_queue, anyio.Event)
        self._registry = Registry(self)
        self._dead_letters = DeadLetters(self.events)
        self._auto_names = 0
        self._phase = "new"  # new -> running -> closing -> closed
        self._resolver_token: Any = None
        self._guardian: Cell | None = None
        self.dispatcher = Dispatcher(throughput=throughput)
        # Set by actorlib.observability to time handlers; None costs nothing.
        self.handler_observer: HandlerObserver | None = None
        # Set by actorlib.observability to trace messages; None costs nothing
        # (see _hooks.Tracing and Cell._lane_for_tell).
        self.tracing: Tracing | None = None
        self._runtime = Runtime(self.dispatcher, self.timer_queue)

    def __repr__(self) -> str:
        return f"<ActorSystem {self.name!r} {self._phase}>"

    # ------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> ActorSystem:
        if self._phase != "new":
            raise RuntimeError(
                f"actor system {self.name!r} was already started; create a new ActorSystem"
            )
        self.ask_context = bind_backend(
            current_backend(), self.clock, self.dispatcher, self.timer_queue, self.ask_timeout
        )
        await self._runtime.enter()
        if self.slow_callback is not None:
            self._watchdog = Watchdog(
                self.name, self.slow_callback, current_poster(), threading.get_ident()
            )
            self._watchdog.start()
        guardian = Cell(self, None, "user", (_Guardian, (), {}), None, None)
        guardian.create_instance()
        guardian.started = True
        guardian.state = State.RUNNING
        self._guardian = guardian
        self._registry.add(guardian)
        self._resolver_token = ref_resolver.set(self)
        self._phase = "running"
        if self.transport is not None:
            try:
                await self.transport.start(self)
            except BaseException as error:
                await self.__aexit__(type(error), error, error.__traceback__)
                raise
        return self

    def _start_runtime_task(self, fn: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Run *fn* beside the workers until shutdown.

        Private to actorlib: its transports, job queues and simulator run their
        tasks here, so that the system owns every task it has.
        """
        if not self._runtime.start_task(fn):
            raise SystemClosedError(system=self.name, operation="start a runtime task")

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        try:
            if self._phase == "running":
                # Leaving on an exception (a cancellation included) still stops
                # every actor gracefully.
                with anyio.CancelScope(shield=exc_type is not None):
                    await self.shutdown()
        except BaseException as error:
            # Shutdown itself was interrupted (cancelled from outside): the task
            # group must still be exited, with that error, by this same task.
            self._leave_context()
            await self._runtime.abandon(error)
            return None
        self._leave_context()
        return await self._runtime.exit(exc_type, exc, tb)

    def _leave_context(self) -> None:
        watchdog, self._watchdog = self._watchdog, None
        if watchdog is not None:
            watchdog.stop()
        if self._resolver_token is not None:
            ref_resolver.reset(self._resolver_token)
            self._resolver_token = None

    async def shutdown(self) -> None:
        """Stop every actor, children before parents, then the system's own tasks.

        Returns once every `on_stop` has run, or after `shutdown_timeout`
        seconds, when what is still running is cancelled (and logged).
        Idempotent.

        Raises:
            RuntimeError: called from inside an actor (it would wait for itself).
        """
        if self._phase in ("closing", "closed"):
            return
        if self._phase == "new":
            self._phase = "closed"
            return
        if current_sender.get() is not None:
            raise RuntimeError(
                "shutdown() cannot be awaited from inside an actor, which would wait for "
                "itself to stop; call it from the task that owns the system"
            )
        self._phase = "closing"
        guardian = self._guardian
        assert guardian is not None
        guardian.post_system(Stop(None))
        limit = math.inf if self.shutdown_timeout is None else self.shutdown_timeout
        if self.dispatcher.crashed is not None:
            limit = 0.0  # a worker died of a BaseException: nothing will stop gracefully
        with anyio.move_on_after(limit) as scope:
            await guardian.wait_stopped()
        if scope.cancelled_caught:
            stuck = sorted(cell.path for cell in self._registry if cell is not guardian)
            logger.error(
                "shutdown of %r timed out after %g s; cancelling %d actors still running: %s",
                self.name,
                limit,
                len(stuck),
                ", ".join(stuck[:20]),
            )
        if self.transport is not None:
            with anyio.move_on_after(limit):
                await self.transport.stop()
        self._runtime.cancel()
        self._phase = "closed"

    def _check_running(self, operation: str) -> None:
        """Raise `SystemClosedError` unless the system is running."""
        if self._phase != "running":
            raise SystemClosedError(system=self.name, operation=operation)

    # ------------------------------------------------------------ actors

    # spawn() itself, typed for every actor class, comes from Spawner.

    def _spawn_spec(self, spec: SpawnSpec) -> ActorRef[Any]:
        self._check_running("spawn an actor")
        assert self._guardian is not None
        return spawn_under(self, self._guardian, spec)

    async def _spawn_placed_spec(self, spec: SpawnSpec, node: object) -> ActorRef[Any]:
        self._check_running("spawn an actor")
        assert self._guardian is not None
        return await spawn_placed(self, self._guardian, node, spec)

    async def start_nodes(self, count: int = 1) -> Sequence[Placement]:
        """Start *count* worker nodes through the system's transport.

        Each is a placement for ``spawn(..., node=...)``; the transport
        supervises them (a node that dies is started again) and stops them
        at shutdown.

        Raises:
            ValueError: *count* is not an int >= 1.
            SystemClosedError: the system is not running.
            RuntimeError: the system has no transport.
        """
        self._check_running("start nodes")
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ValueError(f"count must be an int >= 1, got {count!r}")
        if self.transport is None:
            raise RuntimeError(
                "start_nodes() needs a transport: create the system with "
                "ActorSystem(..., transport=actorlib.remote.SocketTransport())"
            )
        return await self.transport.start_nodes(count)

    def _spawn_under(self, parent: Cell, spec: SpawnSpec) -> ActorRef[Any]:
        self._check_running("spawn an actor")
        return spawn_under(self, parent, spec)

    async def _spawn_placed(self, parent: Cell, node: object, spec: SpawnSpec) -> ActorRef[Any]:
        self._check_running("spawn an actor")
        return await spawn_placed(self, parent, node, spec)

    def _next_auto_name(self) -> str:
        """A fresh ``$n`` name for an unnamed actor."""
        self._auto_names += 1
        return f"${self._auto_names}"

    def _register(self, cell: Cell) -> None:
        """Add a new actor to the path registry."""
        self._registry.add(cell)

    async def stop(self, ref: ActorRef[Any]) -> None:
        """Stop the actor behind *ref* and return once it has terminated.

        Stopping an actor that is already stopped returns at once.

        Raises:
            TypeError: *ref* is not an ActorRef.
            ValueError: *ref* belongs to another system, or is the guardian.
            RuntimeError: awaited by that actor itself or one of its descendants.
        """
        if not isinstance(ref, ActorRef):
            raise TypeError(f"stop() expects an ActorRef, got {ref!r}")
        cell = ref._target
        if isinstance(cell, DeadTarget):
            return
        if not isinstance(cell, Cell):
            stop_remote = getattr(cell, "stop_and_wait", None)
            if stop_remote is not None:  # a target of the Transport seam (an actor elsewhere)
                await stop_remote()
                return
        if not isinstance(cell, Cell) or cell.system is not self:
            raise ValueError(f"stop() got {ref!r}, which belongs to another actor system")
        if cell is self._guardian:
            raise ValueError("the guardian /user is stopped by shutdown(), not stop()")
        me = current_sender.get()
        if me is not None and (me == ref or me.path.startswith(cell.path + "/")):
            raise RuntimeError(
                f"{me.path} cannot await stop() of {cell.path}: it would wait for itself to "
                f"stop; use self.context.stop() (for itself) or tell it a PoisonPill"
            )
        if cell.state is not STOPPED and not await stop_here(cell):
            cell.post_system(Stop(None))
            await cell.wait_stopped()

    def lookup(self, path: str) -> ActorRef[Any] | None:
        """The ref of the live actor at *path* (``/user/a/b``, or ``a/b`` under /user).

        Raises:
            TypeError: *path* is not a str.
        """
        return self._registry.lookup(path)

    def resolve(self, path: str, uid: int) -> ActorRef[Any]:
        """RefResolver protocol: the live ref for (path, uid), or a dead one."""
        return self._registry.resolve(path, uid)

    def _unregister(self, cell: Cell) -> None:
        """Forget a terminated actor (its name becomes free)."""
        self._registry.remove(cell)
        if self.events.has_subscribers():
            self.events.unsubscribe(cell.ref)

    # ------------------------------------------------------------ dead letters, introspection

    def dead_letter(
        self, message: object, recipient: ActorRef[Any] | None, sender: ActorRef[Any] | None
    ) -> None:
        """Record an undeliverable message: count, log, publish `DeadLetter`."""
        self._dead_letters.record(message, recipient, sender)

    def _event_undelivered(self, event: object, subscriber: ActorRef[Any]) -> None:
        self.dead_letter(event, subscriber, None)

    def statistics(self) -> SystemStatistics:
        """Return a snapshot of the system's counters."""
        pool = self.dispatcher.statistics()
        return SystemStatistics(
            actors=max(0, len(self._registry) - 1),
            dead_letters=self._dead_letters.count,
            workers=pool.workers,
            idle_workers=pool.idle_workers,
            ready=pool.ready,
            timers=len(self.timer_queue),
        )

    def class_statistics(self) -> list[ActorClassStatistics]:
        """Return a snapshot per actor class (the guardian not counted), sorted by class."""
        return self._registry.class_statistics(self._guardian)

    def actor_statistics(self) -> tuple[ActorStatistics, ...]:
        """A snapshot of every live actor under ``/user``, depth-first (parents first).

        Cheap enough to call on every refresh of a dashboard: it walks the
        tree and reads counters; it never waits on an actor.
        """
        if self._guardian is None:
            return ()
        return snapshot_tree(self._guardian)

    def tree(self) -> str:
        """The supervision tree as text: each actor's state, mailbox depth and restarts."""
        if self._guardian is None:
            return f"{self.name}: not started"
        return render_tree(self.name, self._guardian)
