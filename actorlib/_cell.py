"""The Cell: one actor's runtime state and its mailbox boundary (the Target protocol).

A cell holds everything about one actor: its mailbox, instance, children,
watchers, timers and restart history. Messages come in through the Target
protocol (tell, post, post_ask, post_system); the loop in _loop handles them,
system messages are read in _system_messages, and the state transitions they
trigger (start, fail, restart, stop) live in _lifecycle. A cell runs on one
dispatcher worker at a time (the `scheduled` flag), or, for a direct ask (or
a direct stop, `_lifecycle.stop_here`), in the caller's task while that flag
is set, which is what makes an actor's state single-threaded even while its
handler awaits.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Coroutine
from itertools import count
from typing import TYPE_CHECKING, Any, cast

import anyio

from . import _loop as loop
from ._actor import Actor, constructing
from ._context import ActorContext, Handler
from ._errors import ActorStopped, MailboxFull
from ._lifecycle import RUNNING, STOPPED, State
from ._mailbox import Full, Mailbox, MailboxQueue
from ._messages import (
    PENDING,
    Envelope,
    Failure,
    Item,
    Notice,
    ReplySlot,
    Stop,
    Terminated,
    TimerFired,
    Watch,
    as_envelope,
)
from ._ref import ActorRef, AskContext, current_sender
from ._supervision import RestartStats, SupervisorStrategy
from ._suspension import never_suspends
from ._timers import Timers
from ._waits import Asker, ask_cycle

if TYPE_CHECKING:
    from ._system import ActorSystem

_uids = count(1)

# A task asking in a loop yields to the event loop at least once per this
# many direct asks (see `Cell.post_ask`).
_DIRECT_ASKS_PER_YIELD = 64


class Cell(Asker):
    """The runtime container of one actor (Akka's ActorCell).

    As an `Asker`, it records the asks its handler awaits (see _waits).
    """

    __slots__ = (
        "ask_timeouts",
        "asks",
        "behaviors",
        "checked_handler",
        "children",
        "closed",
        "context",
        "current",
        "escalated_from",
        "factory",
        "failure",
        "handled",
        "handler",
        "handler_never_suspends",
        "inbox",
        "incarnation",
        "instance",
        "mailbox",
        "name",
        "parent",
        "path",
        "ref",
        "restart_cause",
        "restarts",
        "scheduled",
        "started",
        "stash",
        "state",
        "stop_error",
        "stop_trace",
        "stopped_event",
        "supervisor",
        "system",
        "timers",
        "uid",
        "watchers",
        "watching",
    )

    def __init__(
        self,
        system: ActorSystem,
        parent: Cell | None,
        name: str,
        factory: tuple[type[Actor], tuple[object, ...], dict[str, object]],
        mailbox: Mailbox | None,
        supervisor: SupervisorStrategy | None,
    ) -> None:
        super().__init__()
        self.system = system
        self.parent = parent
        self.name = name
        self.path: str = f"{parent.path}/{name}" if parent is not None else f"/{name}"
        self.uid = next(_uids)
        self.factory = factory
        self.mailbox = MailboxQueue() if mailbox is None else MailboxQueue(mailbox)
        self.supervisor = supervisor
        self.state = State.STARTING
        self.closed = False  # Invariant: True exactly when state is STOPPING or STOPPED
        self.scheduled = False
        # The user lane, while a plain tell may append to it without further
        # checks: the mailbox is unbounded, deliveries are direct (not under a
        # test's control) and the actor is open (see _lane_for_tell).
        # Invariant: None once closed, and None or the mailbox's user lane.
        self.inbox: deque[Item] | None = None
        self.ref: ActorRef[Any] = ActorRef(self)
        self.context = ActorContext(self)
        self.instance: Actor | None = None
        self.handler: Handler | None = None
        # The handler `post_ask` last looked at, and whether it can suspend.
        self.checked_handler: Handler | None = None
        self.handler_never_suspends = False
        self.started = False
        # Counters that statistics and metrics read, never the runtime: user
        # messages taken from the mailbox so far (all incarnations; added once per
        # batch by the loop), asks received, and those asks that timed out.
        self.handled = 0
        self.asks = 0
        self.ask_timeouts = 0
        self.incarnation = 0
        self.current: Item | None = None
        self.children: dict[str, Cell] | None = None
        self.watchers: set[ActorRef[Any]] | None = None
        self.watching: set[ActorRef[Any]] | None = None
        self.timers: Timers | None = None
        self.behaviors: list[Handler] | None = None
        self.stash: list[Item] | None = None
        self.restarts: RestartStats | None = None
        self.restart_cause: BaseException | None = None
        self.failure: BaseException | None = None  # the latest, for the parent's directive
        self.escalated_from: Cell | None = None
        self.stop_error: BaseException | None = None
        # The trace context of the first stop asked for (tracing on only):
        # the Terminated notices this actor's end sends carry it.
        self.stop_trace: object = None
        self.stopped_event: anyio.Event | None = None

    def __repr__(self) -> str:
        return f"<Cell {self.path} {self.state.value}>"

    # ------------------------------------------------------------ construction

    def create_instance(self) -> None:
        """Build a fresh instance from the factory (raises what __init__ raises)."""
        actor_class, args, kwargs = self.factory
        token = constructing.set((self.ref, self.context))
        try:
            instance = actor_class(*args, **kwargs)
        finally:
            constructing.reset(token)
        instance.ref = self.ref
        instance.context = self.context
        self.instance = instance
        self.handler = instance.receive
        self.behaviors = None

    # ------------------------------------------------------------ Target protocol (for refs)

    def ask_context(self) -> AskContext:
        """The system's default ask timeout, timer queue and event factory."""
        return self.system.ask_context

    def post(self, envelope: Envelope) -> None:
        """A user envelope from a ref: deliver, or dead-letter if the actor is closed."""
        if self.closed:
            self.reject(envelope)
        else:
            system = self.system
            if system.tracing is not None and envelope.trace is None:
                envelope.trace = system.tracing.capture()
            system.delivery.deliver(self, envelope)

    def _wake(self) -> None:
        """Queue this cell for a worker, unless it is queued or running already."""
        if not self.scheduled:
            self.scheduled = True
            self.system.dispatcher.schedule(self)

    def tell(self, message: object, sender: ActorRef[Any] | None) -> None:
        """Target protocol: a plain tell; the hottest path of the runtime.

        It appends to `inbox` when it can; otherwise `_lane_for_tell` says
        where to append, or the tell goes through `post` (the Delivery seam,
        the overflow policy, dead letters).
        """
        lane = self.inbox
        if lane is None:
            lane = self._lane_for_tell()
            if lane is None:
                self.post(Envelope(message, sender))
                return
        lane.append((message, sender))
        if not self.scheduled:  # _wake(), inlined: this is the hottest path
            self.scheduled = True
            self.system.dispatcher.schedule(self)

    def _lane_for_tell(self) -> deque[Item] | None:
        """The user lane a plain tell may append to now; None if it must `post`.

        None when the actor is closed, deliveries are under a test's control,
        or a bounded lane is full. An unbounded lane becomes the `inbox`, so
        the next tells skip this; a bounded one is checked at every tell. An
        idle actor's empty lane is dropped (a deque costs about 700 bytes;
        see `_loop.free_idle_lanes`), so the first tell of a burst after a
        quiet spell creates one.
        """
        # While tracing, every tell goes through post, which captures the trace.
        system = self.system
        if self.closed or not system.direct_delivery or system.tracing is not None:
            return None
        mailbox = self.mailbox
        lane = mailbox.user
        if lane is None:
            lane = mailbox.user = deque()
        capacity = mailbox.capacity
        if capacity == math.inf:
            self.inbox = lane
        elif len(lane) >= capacity:
            return None
        return lane

    def post_ask(self, envelope: Envelope) -> object:
        """Target protocol: post an ask, or answer it at once in the asker's task.

        It is answered at once when no one could tell the difference: the
        actor is idle (running, not scheduled, nothing queued), deliveries
        are not under a test's control, and its handler is an ``async def``
        without an await. Such a handler runs to its end without any other
        task running, so running it here rather than on a dispatcher worker
        changes no order and shares no state, and the ask costs no task
        switch. Failures, stashes, forwards and `Failure` replies take the
        same paths as on a worker, through the reply slot.

        An ask from a handler that would wait on its own asker (this actor
        is the asker, or waits on it through a chain of asks) is refused
        before it is sent: see `_refuse_cycle`.

        Returns:
            The handler's return value, or `PENDING`: the reply comes
            through the envelope's slot.

        Raises:
            AskCycleError: the ask would close a cycle of asks.
        """
        self.asks += 1
        if not self._answers_now(envelope):
            asker = envelope.sender
            if asker is not None and (self.awaiting or asker._target is self):
                self._refuse_cycle(asker._target)
            tracing = self.system.tracing
            slot = envelope.reply
            # The client span of an `ActorRef.ask` (whose slot is a plain ReplySlot,
            # ended by the ask); not of an ask relayed from another node.
            if tracing is not None and slot is not None and type(slot) is ReplySlot:
                slot.trace = slot.trace or tracing.start_ask(self.path, envelope)
            try:
                self.post(envelope)
            except Exception as error:  # MailboxFull: the ask fails before it waits
                if slot is not None and slot.trace is not None:
                    slot.trace.end(error, done=True)
                raise
            return PENDING
        self.scheduled = True  # keeps workers off this cell meanwhile
        token = current_sender.set(self.ref)
        message = envelope.message
        self.current = envelope
        self.handled += 1
        try:
            # _answers_now checked: the handler is an async def without await.
            step = cast(Coroutine[object, None, object], cast(Handler, self.handler)(message))
            try:
                step.send(None)
            except StopIteration as returned:
                result = returned.value
                if self.current is not envelope or type(result) is Failure:
                    loop.settle(self, envelope, message, result)
                    return PENDING
                self.current = None
                return result
            except Exception as error:
                loop.failed(self, envelope, message, error)
                return PENDING
            step.close()  # pragma: no cover - a handler without await cannot suspend
            raise AssertionError(f"the handler of {self.path} suspended")  # pragma: no cover
        finally:
            current_sender.reset(token)
            mailbox = self.mailbox
            if mailbox.system is not None or (self.state is RUNNING and mailbox.user):
                self.system.dispatcher.schedule(self)  # it told itself, or failed
            else:
                self.scheduled = False

    def ask_timed_out(self) -> None:
        """An ask to this actor timed out (see `_ref.time_out`); counted for metrics."""
        self.ask_timeouts += 1

    def _refuse_cycle(self, asker: object) -> None:
        """Raise if the ask of *asker* (this actor, or one it waits on) closes a cycle.

        Only a local actor's ask can close one (a remote asker's waits are
        not known here), and only under production delivery: a controlled
        Delivery (the simulator) holds answered replies in flight, which
        would look like waits, and reports cycles itself as a Deadlock.

        Raises:
            AskCycleError: it closes a cycle.
        """
        if isinstance(asker, Asker) and self.system.direct_delivery:
            cycle = ask_cycle(asker, self)
            if cycle is not None:
                raise cycle

    def _answers_now(self, envelope: Envelope) -> bool:
        if self.scheduled or self.state is not RUNNING:
            return False
        mailbox = self.mailbox
        if mailbox.user or mailbox.system is not None or type(envelope.message) in loop.SPECIAL:
            return False
        handler = self.handler
        if handler is not self.checked_handler:
            self.checked_handler = handler
            self.handler_never_suspends = never_suspends(handler)
        system = self.system
        if not self.handler_never_suspends or not system.direct_delivery:
            return False
        if system.tracing is not None:
            return False  # the handling gets its span on a worker
        # An asker that loops over direct asks would never yield to the loop:
        # every so often one goes through the mailbox, which does.
        system.direct_asks += 1
        if system.direct_asks >= _DIRECT_ASKS_PER_YIELD:
            system.direct_asks = 0
            return False
        return True

    async def post_wait(self, envelope: Envelope) -> None:
        """Like `post`, but first wait for room in a bounded mailbox."""
        await self.mailbox.wait_for_room()
        self.post(envelope)

    def post_from_runtime(self, envelope: Envelope) -> None:
        """Post for the runtime itself (timers): a full mailbox dead-letters, never raises."""
        try:
            self.post(envelope)
        except MailboxFull:
            self.reject(envelope)

    def post_system(self, message: object) -> None:
        """Queue a system message; it overtakes every user message.

        While tracing, a `Stop` takes the trace context of the task asking
        for it (``system.stop(ref)``, ``context.stop()``), unless it has one.
        """
        system = self.system
        tracing = system.tracing
        if tracing is not None and type(message) is Stop and message.trace is None:
            message = Stop(message.error, tracing.capture())
        if not system.direct_delivery:
            # A test's Delivery may hold it in flight (actorlib.testing).
            system.delivery.deliver_system(self, message)
            return
        # `enqueue_system`, inlined: production pays no call for the seam.
        if self.state is STOPPED:
            self.after_death(message)
            return
        self.mailbox.put_system(message)
        self._wake()

    def enqueue_system(self, message: object) -> None:
        """Deliverable protocol: a system message arrives (a stopped actor answers it)."""
        if self.state is STOPPED:
            self.after_death(message)
            return
        self.mailbox.put_system(message)
        self._wake()

    def enqueue(self, envelope: Envelope) -> Item | None:
        """Deliverable protocol: put a user envelope into the mailbox, under its policy.

        Returns the message the overflow policy dropped (a dead letter), if any.
        """
        if self.closed:
            # Delivered late (by a controlled Delivery) after the actor closed.
            self.reject(envelope)
            return envelope
        try:
            dropped = self.mailbox.put_user(envelope)
        except Full:
            raise MailboxFull(path=self.path, capacity=int(self.mailbox.capacity)) from None
        if dropped is not None:
            self.reject(dropped, MailboxFull(path=self.path, capacity=int(self.mailbox.capacity)))
            if dropped is envelope:
                return dropped
        self._wake()
        return dropped

    def reject(self, item: Item, error: Exception | None = None) -> None:
        """A user message that will never be handled: dead letter, and fail its ask.

        The ask fails with *error*, by default `ActorStopped`.
        """
        envelope = as_envelope(item)
        if envelope.reply is not None:
            if error is None:
                error = ActorStopped(path=self.path, message_type=type(envelope.message).__name__)
            self.system.delivery.reply(envelope.reply, None, error)
        message = envelope.message
        if type(message) is TimerFired:
            message = message.message
        self.system.dead_letter(message, self.ref, envelope.sender)

    def after_death(self, message: object) -> None:
        # A system message reached a stopped actor.
        if type(message) is Watch:
            notice = Terminated(self.ref, self.stop_error)
            trace = self.stop_trace
            message.watcher._target.post_system(notice if trace is None else Notice(notice, trace))
        elif type(message) is Terminated:
            self.system.dead_letter(message, self.ref, None)
        elif type(message) is Notice:
            self.system.dead_letter(message.terminated, self.ref, None)

    # ------------------------------------------------------------ the loop (in _loop)

    # Runnable protocol: system messages first, then up to *budget* user
    # messages. The loop itself, not a method awaiting it: one coroutine
    # less per batch, which is per message for an actor told one at a time.
    run = loop.run

    async def invoke(self, envelope: Envelope) -> None:
        """Handle one user envelope (special messages included) and answer its ask."""
        await loop.invoke(self, envelope)

    # ------------------------------------------------------------ stop

    async def wait_stopped(self) -> None:
        """Return once this actor has terminated."""
        if self.state is STOPPED:
            return
        if self.stopped_event is None:
            self.stopped_event = anyio.Event()
        await self.stopped_event.wait()

    # ------------------------------------------------------------ introspection

    def restart_count(self) -> int:
        """How many times this actor was restarted."""
        return 0 if self.restarts is None else self.restarts.total
