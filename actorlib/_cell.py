"""The Cell: one actor's runtime (mailbox, instance, children, watchers, lifecycle).

All lifecycle logic lives here: the message loop, failure and the parent's
directives, restart, and stop. A cell runs only on a dispatcher worker, and
only one worker at a time (the `scheduled` flag), which is what makes an
actor's state single-threaded even while its handler awaits.
"""

from __future__ import annotations

import logging
from itertools import count
from typing import TYPE_CHECKING, Any, cast

import anyio

from ._actor import Actor, constructing
from ._clock import TimerQueue
from ._context import ActorContext, Handler
from ._errors import ActorStopped, MailboxFull
from ._lifecycle import CLOSED as _CLOSED
from ._lifecycle import State, supervise
from ._mailbox import Full, Mailbox, MailboxQueue
from ._messages import (
    ChildTerminated,
    Envelope,
    Failed,
    PoisonPill,
    ReplySlot,
    Restart,
    Resume,
    Stop,
    Terminated,
    TimerFired,
    Unwatch,
    Watch,
)
from ._ref import ActorRef, current_sender
from ._supervision import DEFAULT_STRATEGY, Directive, RestartStats, SupervisorStrategy
from ._timers import Timers

if TYPE_CHECKING:
    from ._system import ActorSystem

logger = logging.getLogger("actorlib")

_uids = count(1)


class Cell:
    """The runtime container of one actor (Akka's ActorCell)."""

    __slots__ = (
        "_auto_names",
        "_stopped_event",
        "behaviors",
        "children",
        "context",
        "current",
        "escalated_from",
        "factory",
        "handler",
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
        self.system = system
        self.parent = parent
        self.name = name
        self.path: str = f"{parent.path}/{name}" if parent is not None else f"/{name}"
        self.uid = next(_uids)
        self.factory = factory
        self.mailbox = MailboxQueue() if mailbox is None else MailboxQueue(mailbox)
        self.supervisor = supervisor
        self.state = State.STARTING
        self.scheduled = False
        self.ref: ActorRef[Any] = ActorRef(self)
        self.context = ActorContext(self)
        self.instance: Actor | None = None
        self.handler: Handler | None = None
        self.started = False
        self.incarnation = 0
        self.current: Envelope | None = None
        self.children: dict[str, Cell] | None = None
        self.watchers: set[ActorRef[Any]] | None = None
        self.watching: set[ActorRef[Any]] | None = None
        self.timers: Timers | None = None
        self.behaviors: list[Handler] | None = None
        self.stash: list[Envelope] | None = None
        self.restarts: RestartStats | None = None
        self.restart_cause: BaseException | None = None
        self.escalated_from: Cell | None = None
        self.stop_error: BaseException | None = None
        self._stopped_event: anyio.Event | None = None
        self._auto_names = 0

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

    def next_auto_name(self) -> str:
        """A fresh name for an unnamed child: ``$1``, ``$2``... (never a valid user name)."""
        self._auto_names += 1
        return f"${self._auto_names}"

    # ------------------------------------------------------------ Target protocol (for refs)

    def ask_context(self) -> tuple[float | None, TimerQueue]:
        """The system's default ask timeout and timer queue."""
        system = self.system
        return system.ask_timeout, system.timer_queue

    def post(self, envelope: Envelope) -> None:
        """A user message from a ref: deliver, or dead-letter if the actor is closed."""
        if self.state in _CLOSED:
            self.reject(envelope)
        else:
            self.system.delivery.deliver(self, envelope)

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
        """Queue a system message; it overtakes every user message."""
        if self.state is State.STOPPED:
            self._after_death(message)
            return
        self.mailbox.put_system(message)
        if not self.scheduled:
            self.scheduled = True
            self.system.dispatcher.schedule(self)

    def enqueue(self, envelope: Envelope) -> None:
        """Deliverable protocol: put a user envelope into the mailbox, under its policy."""
        if self.state in _CLOSED:
            # Delivered late (by a controlled Delivery) after the actor closed.
            self.reject(envelope)
            return
        try:
            dropped = self.mailbox.put_user(envelope)
        except Full:
            raise MailboxFull(path=self.path, capacity=int(self.mailbox.capacity)) from None
        if dropped is not None:
            self.reject(dropped)
            if dropped is envelope:
                return
        if not self.scheduled:
            self.scheduled = True
            self.system.dispatcher.schedule(self)

    def reject(self, envelope: Envelope) -> None:
        """A user message that will never be handled: dead letter, and fail its ask."""
        if envelope.reply is not None:
            self.system.delivery.reply(
                envelope.reply,
                None,
                ActorStopped(path=self.path, message_type=type(envelope.message).__name__),
            )
        message = envelope.message
        if type(message) is TimerFired:
            message = message.message
        self.system.dead_letter(message, self.ref, envelope.sender)

    def _after_death(self, message: object) -> None:
        # A system message reached a stopped actor.
        if type(message) is Watch:
            message.watcher._target.post_system(Terminated(self.ref, self.stop_error))
        elif type(message) is Terminated:
            self.system.dead_letter(message, self.ref, None)

    # ------------------------------------------------------------ the loop

    async def run(self, budget: int) -> int:
        """Runnable protocol: system messages first, then up to *budget* user messages."""
        token = current_sender.set(self.ref)
        mailbox = self.mailbox
        handled = 0
        try:
            while True:
                state = self.state
                if state is State.STARTING:
                    # Creation comes first, as if it were the first system
                    # message: a stop sent right after spawn still sees
                    # on_start, then on_stop.
                    await self._start()
                elif mailbox.system is not None:
                    await self._handle_system(mailbox.pop_system())
                elif state is State.RUNNING:
                    if handled >= budget or not mailbox.user:
                        break
                    handled += 1
                    await self._invoke(mailbox.pop_user())
                else:
                    break
        finally:
            current_sender.reset(token)
        if mailbox.system is not None or (self.state is State.RUNNING and mailbox.user):
            self.system.dispatcher.requeue(self)
        else:
            self.scheduled = False
        return handled

    async def _start(self) -> None:
        instance = self.instance
        assert instance is not None
        try:
            if self.restart_cause is not None:
                cause, self.restart_cause = self.restart_cause, None
                await instance.on_restart(cause)
            if type(instance).on_start is not Actor.on_start:
                await instance.on_start()
        except Exception as error:
            error.add_note(f"raised by on_start of actor {self.path}")
            self.fail(error)
            return
        self.started = True
        self.state = State.RUNNING

    async def _invoke(self, envelope: Envelope) -> None:
        message = envelope.message
        kind = type(message)
        if kind is TimerFired:
            fired = cast(TimerFired, message)
            if self.timers is None or not self.timers.claim(fired):
                return  # cancelled after it fired: by promise, never delivered
            message = fired.message
        elif kind is PoisonPill:
            if envelope.reply is not None:
                self.system.delivery.reply(envelope.reply, None, None)
            await self.begin_stop(None)
            return
        self.current = envelope
        handler = self.handler
        assert handler is not None
        try:
            result = await handler(message)
        except Exception as error:
            self.current = None
            error.add_note(f"raised by actor {self.path} while handling {_short(message)}")
            if envelope.reply is not None:
                self._answer(envelope.reply, None, error)
            self.fail(error)
            return
        if self.current is envelope:  # not stashed
            self.current = None
            if envelope.reply is not None:
                self._answer(envelope.reply, result, None)

    def _answer(self, slot: ReplySlot, value: object, error: BaseException | None) -> None:
        if not self.system.delivery.reply(slot, value, error) and error is None:
            # The asker gave up (timeout, cancellation): the reply is a dead letter.
            self.system.dead_letter(value, None, self.ref)

    # ------------------------------------------------------------ system messages

    async def _handle_system(self, message: object) -> None:
        match message:
            case Stop(error=error):
                await self.begin_stop(error)
            case Terminated():
                await self._on_terminated(message)
            case ChildTerminated(child=child, error=error):
                await self._on_child_terminated(child, error)
            case Failed(child=child, error=error, incarnation=incarnation):
                supervise(self, child, error, incarnation)
            case Watch(watcher=watcher):
                if self.watchers is None:
                    self.watchers = set()
                self.watchers.add(watcher)
            case Unwatch(watcher=watcher):
                if self.watchers is not None:
                    self.watchers.discard(watcher)
            case Resume(incarnation=incarnation):
                if incarnation == self.incarnation and self.state is State.SUSPENDED:
                    # Resuming after a failed on_start carries on without re-running it.
                    self.started = True
                    self.state = State.RUNNING
                    self._resume_escalated()
            case Restart(error=error, incarnation=incarnation):
                if incarnation == self.incarnation and self.state not in _CLOSED:
                    await self._begin_restart(error)
            case _:  # pragma: no cover - a bug in the runtime, not a user error
                raise AssertionError(f"unknown system message {message!r}")

    async def _on_terminated(self, notice: Terminated) -> None:
        watching = self.watching
        if watching is None or notice.ref not in watching:
            return  # unwatched before the notice arrived: by promise, not delivered
        watching.discard(notice.ref)
        await self._deliver_notice(notice)

    async def _deliver_notice(self, notice: Terminated) -> None:
        """Hand a Terminated to the handler now, or keep it for after a failure."""
        if self.state is State.RUNNING:
            await self._invoke(Envelope(notice))
        elif self.state in _CLOSED:
            self.system.dead_letter(notice, self.ref, None)
        else:
            self.mailbox.push_front_user([Envelope(notice)])

    async def _on_child_terminated(self, child: Cell, error: BaseException | None) -> None:
        children = self.children
        if children is not None and children.get(child.name) is child:
            del children[child.name]
        if self.escalated_from is child:
            self.escalated_from = None
        if self.state is State.STOPPING:
            if not children:
                await self._finish_stop()
        elif self.state is State.RESTARTING:
            if not children:
                await self._recreate()
        elif self.parent is not None:  # the guardian has no handler to tell
            if self.watching is not None:
                self.watching.discard(child.ref)
            await self._deliver_notice(Terminated(child.ref, error))

    # ------------------------------------------------------------ failure and restart

    def fail(self, error: Exception) -> None:
        """This actor failed: suspend and ask the parent for a directive."""
        self.state = State.SUSPENDED
        self.incarnation += 1
        parent = self.parent
        if parent is None:  # the guardian itself: nothing above it
            logger.error("the root guardian failed; stopping", exc_info=error)
            self.mailbox.put_system(Stop(error))
            return
        parent.post_system(Failed(self, error, self.incarnation))

    def _resume_escalated(self) -> None:
        child = self.escalated_from
        if child is not None:
            self.escalated_from = None
            child.post_system(Resume(child.incarnation))

    async def _begin_restart(self, error: BaseException) -> None:
        self.state = State.RESTARTING
        self.incarnation += 1  # directives and failures of the old instance are stale now
        self.restart_cause = error
        self.escalated_from = None
        if self.timers is not None:
            self.timers.cancel_all()
        if self.stash:
            self.mailbox.push_front_user(self.stash)
            self.stash = None
        if self.children:
            for child in self.children.values():
                child.post_system(Stop(None))
            return  # _recreate runs when the last child has terminated
        await self._recreate()

    async def _recreate(self) -> None:
        await self._run_on_stop()
        try:
            self.create_instance()
        except Exception as error:
            error.add_note(f"raised by __init__ of actor {self.path} during restart")
            self.fail(error)
            return
        self.state = State.STARTING
        await self._start()

    # ------------------------------------------------------------ stop

    def stop_child_or_self(self, ref: ActorRef[Any] | None) -> None:
        """`context.stop`: self after the current message, or a child."""
        if ref is None or ref == self.ref:
            self.post_system(Stop(None))
            return
        child = self.children.get(ref.name) if self.children else None
        if child is None or child.ref != ref:
            raise ValueError(
                f"context.stop() can stop this actor or its children, got {ref.path} which is "
                f"not a child of {self.path}; use `await system.stop(ref)` or tell it a PoisonPill"
            )
        child.post_system(Stop(None))

    async def begin_stop(self, error: BaseException | None) -> None:
        """Stop: children first (depth-first), then on_stop, then tell the watchers."""
        if self.state in _CLOSED:
            return
        self.state = State.STOPPING
        self.stop_error = error
        if self.timers is not None:
            self.timers.cancel_all()
        if self.children:
            for child in self.children.values():
                child.post_system(Stop(None))
            return  # _finish_stop runs when the last child has terminated
        await self._finish_stop()

    async def _run_on_stop(self) -> None:
        instance = self.instance
        if instance is not None and self.started:
            self.started = False
            if type(instance).on_stop is not Actor.on_stop:
                try:
                    await instance.on_stop()
                except Exception:
                    # on_stop failures cannot be supervised: the actor is going.
                    logger.exception("on_stop of actor %s failed", self.path)

    async def _finish_stop(self) -> None:
        await self._run_on_stop()
        self.state = State.STOPPED
        self.instance = None
        self.handler = None
        self.behaviors = None
        for envelope in self.mailbox.drain():
            self.reject(envelope)
        if self.stash:
            for envelope in self.stash:
                self.reject(envelope)
            self.stash = None
        while self.mailbox.system is not None:
            self._after_death(self.mailbox.pop_system())
        self.system.unregister(self)
        notice = Terminated(self.ref, self.stop_error)
        parent = self.parent
        if self.watchers:
            for watcher in self.watchers:
                if parent is None or watcher != parent.ref:
                    watcher._target.post_system(notice)
            self.watchers = None
        if parent is not None:
            parent.post_system(ChildTerminated(self, self.stop_error))
        if self._stopped_event is not None:
            self._stopped_event.set()

    async def wait_stopped(self) -> None:
        """Return once this actor has terminated."""
        if self.state is State.STOPPED:
            return
        if self._stopped_event is None:
            self._stopped_event = anyio.Event()
        await self._stopped_event.wait()

    # ------------------------------------------------------------ watch, become, stash

    def watch(self, ref: ActorRef[Any]) -> None:
        """Start watching *ref* on behalf of this actor."""
        if ref == self.ref:
            return
        if self.watching is None:
            self.watching = set()
        self.watching.add(ref)
        ref._target.post_system(Watch(self.ref))

    def unwatch(self, ref: ActorRef[Any]) -> None:
        """Stop watching *ref*; a notice already on its way is dropped."""
        if self.watching is not None and ref in self.watching:
            self.watching.discard(ref)
            ref._target.post_system(Unwatch(self.ref))

    def become(self, handler: Handler, *, discard_old: bool) -> None:
        """Switch the handler; see `ActorContext.become`."""
        assert self.handler is not None
        if self.behaviors is None:
            self.behaviors = []
        if discard_old and self.behaviors:
            self.behaviors.pop()
        self.behaviors.append(handler)
        self.handler = handler

    def unbecome(self) -> None:
        """Pop the behaviour stack; see `ActorContext.unbecome`."""
        if self.behaviors:
            self.behaviors.pop()
        if self.behaviors:
            self.handler = self.behaviors[-1]
        elif self.instance is not None:
            self.handler = self.instance.receive

    def stash_current(self) -> None:
        """Set the message being handled aside; see `ActorContext.stash`."""
        current = self.current
        if current is None:
            raise RuntimeError(
                f"stash() of actor {self.path} called outside of message handling, or the "
                f"current message was already stashed; call it from receive()"
            )
        if self.stash is None:
            self.stash = []
        self.stash.append(current)
        self.current = None

    def unstash_all(self) -> None:
        """Replay stashed messages before those already waiting; see `ActorContext`."""
        if self.stash:
            stash, self.stash = self.stash, None
            self.mailbox.push_front_user(stash)

    # ------------------------------------------------------------ introspection

    def restart_count(self) -> int:
        """How many times this actor was restarted."""
        return 0 if self.restarts is None else self.restarts.total

    def strategy_for(self, child: Cell) -> SupervisorStrategy:
        """The strategy that decides for *child*: its override, else ours."""
        if child.supervisor is not None:
            return child.supervisor
        if self.instance is not None:
            strategy = type(self.instance).supervisor_strategy
            if strategy is not None:
                return strategy
        default = self.system.default_strategy if self.parent is None else None
        return default or DEFAULT_STRATEGY

    def decide(self, child: Cell, error: Exception) -> Directive:
        """Ask the child's strategy's decider; a failing decider escalates."""
        try:
            directive: object = self.strategy_for(child).decider(error)
        except Exception:
            logger.exception("the decider for %s failed; escalating", child.path)
            return Directive.ESCALATE
        if not isinstance(directive, Directive):
            logger.error(
                "the decider for %s returned %r, not a Directive; escalating",
                child.path,
                directive,
            )
            return Directive.ESCALATE
        return directive


def _short(message: object, limit: int = 200) -> str:
    text = repr(message)
    return text if len(text) <= limit else text[: limit - 3] + "..."
