"""Envelopes, reply slots and the messages the runtime sends; no behaviour of actors here."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final, Generic, TypeVar

import anyio
import attrs

from ._lowlevel import Waiter

if TYPE_CHECKING:
    from ._clock import TimerHandle
    from ._hooks import AskTrace
    from ._ref import ActorRef, Target


# ---------------------------------------------------------------- public messages

ReplyT = TypeVar("ReplyT", covariant=True)


class Request(Generic[ReplyT]):
    """Base class of a message that declares the type of its reply.

    ``class Get(Request[int])`` makes ``await ref.ask(Get())`` an ``int``
    to the type checker; the handler should return an ``int`` for it. It is
    typing only: a request is an ordinary message at run time (no fields,
    no slots taken, nothing checked), so any message class can derive from
    it, attrs classes included::

        @attrs.frozen
        class Get(Request[int]):
            key: str

    The ask of a message that is not a `Request` stays untyped (``Any``),
    since what a plain handler returns depends on the message.
    """

    __slots__ = ()


@attrs.frozen
class Terminated:
    """Sent to watchers and to the parent when an actor has stopped.

    Attributes:
        ref: the actor that stopped.
        error: the failure that stopped it, or None for a normal stop.
    """

    ref: ActorRef[Any]
    error: BaseException | None = None


@attrs.frozen
class PoisonPill:
    """Stops the receiving actor once the messages sent before it are handled.

    Messages queued after it become dead letters; asks queued after it fail
    with `ActorStopped`.
    """


@attrs.frozen
class DeadLetter:
    """Published on the event stream for every message that could not be delivered.

    Attributes:
        message: the message itself.
        recipient: the actor it was meant for (None for a reply nobody waits for).
        sender: the actor that sent it, when known.
    """

    message: object
    recipient: ActorRef[Any] | None
    sender: ActorRef[Any] | None = None


def _check_error(_: object, __: object, value: BaseException) -> None:
    if not isinstance(value, BaseException):
        raise TypeError(f"Failure() expects an exception to raise in the asker, got {value!r}")


@attrs.frozen
class Failure:
    """Return it from ``receive`` to answer an ``ask`` with an error, without failing.

    The asker's ``ask`` raises *error*; the actor is not failed, so its
    supervisor is not involved and its state stays as it is (Akka's
    ``Status.Failure``). Use it to refuse a bad request; raise instead when
    the actor itself is broken. Returned for a ``tell``, there is no asker,
    and the error is logged to the ``actorlib`` logger.

    Attributes:
        error: the exception the asker gets.

    Raises:
        TypeError: *error* is not an exception.
    """

    error: BaseException = attrs.field(validator=_check_error)


# ---------------------------------------------------------------- envelopes


_MISSING: Any = object()
_ABANDONED: Any = object()


class _Pending:
    def __repr__(self) -> str:
        return "PENDING"


# What `Target.post_ask` returns when the answer will come through the slot.
PENDING: Final = _Pending()


class ReplySlot:
    """A one-shot, future-like slot that completes an ``ask``.

    Cheaper than a stream: the waiter creates its event only if it must wait.
    """

    __slots__ = (
        "_error",
        "_event",
        "_value",
        "forwarded_to",
        "message",
        "recipient",
        "timer",
        "trace",
    )

    def __init__(self, message: object, recipient: ActorRef[Any]) -> None:
        self.message = message
        self.recipient = recipient
        # The targets `context.forward` passed the ask on to, in order; the
        # last one must answer it (None: *recipient* itself).
        self.forwarded_to: list[Target] | None = None
        self.timer: TimerHandle | None = None
        # The ask's client span while tracing is on (_hooks.AskTrace), else None.
        self.trace: AskTrace | None = None
        self._event: Waiter | None = None
        self._value: object = _MISSING
        self._error: BaseException | None = None

    @property
    def done(self) -> bool:
        """True once a value or an error was set."""
        return self._value is not _MISSING or self._error is not None

    def set_result(self, value: object) -> bool:
        """Complete with *value*; False if the slot was already complete."""
        if self.done:
            return False
        self._value = value
        self._completed()
        return True

    def set_error(self, error: BaseException) -> bool:
        """Complete with *error*; False if the slot was already complete."""
        if self.done:
            return False
        self._error = error
        self._completed()
        return True

    def abandon(self) -> None:
        """The asker stopped waiting (cancelled): a later reply is a dead letter."""
        if not self.done:
            self._value = _ABANDONED
            if self.timer is not None:
                self.timer.cancel()
                self.timer = None

    def _completed(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self._event is not None:
            self._event.set()

    async def wait(self, new_event: Callable[[], Waiter] = anyio.Event) -> Any:
        """Wait for completion; return the value or raise the error."""
        if not self.done:
            self._event = new_event()
            await self._event.wait()
        return self.result()

    def result(self) -> Any:
        """The value, or raise the error, of a complete slot."""
        if self._error is not None:
            raise self._error
        return self._value


@attrs.define(slots=True, eq=False)
class Envelope:
    """A message on its way: the message, who sent it, and where a reply goes.

    *trace* is the trace context it carries (opaque to the core: set and read
    by the system's `Tracing` hook, see _hooks); None while tracing is off.
    """

    message: object
    sender: ActorRef[Any] | None = None
    reply: ReplySlot | None = None
    trace: object = None


# A plain tell on the production fast path travels as (message, sender): a
# tuple costs a fifth of an Envelope, and a tell is the hottest path there is.
# Asks, runtime messages and everything behind the Delivery seam use Envelope.
Tell = tuple[object, "ActorRef[Any] | None"]
Item = Envelope | Tell


def as_envelope(item: Item) -> Envelope:
    """The item as an Envelope (slow paths: rejects, special messages)."""
    if type(item) is tuple:
        return Envelope(item[0], item[1])
    assert isinstance(item, Envelope)
    return item


# ---------------------------------------------------------------- system messages
# Internal: they travel in the system lane, which is always drained first.


@attrs.frozen
class Start:
    """Create-and-start: run ``on_start`` of the first instance."""


@attrs.frozen
class Stop:
    """Stop the actor (children first); *error* is the cause, if any.

    *trace* is the trace context of whoever asked for the stop, while tracing
    is on (see `Cell.post_system`): the `Terminated` notices continue it.
    """

    error: BaseException | None = None
    trace: object = None


@attrs.frozen(eq=False)
class Notice:
    """A `Terminated` with the trace context of the stop that caused it (tracing on only)."""

    terminated: Terminated
    trace: object


@attrs.frozen
class Watch:
    """*watcher* wants a `Terminated` when this actor stops."""

    watcher: ActorRef[Any]


@attrs.frozen
class Unwatch:
    """*watcher* no longer wants a `Terminated` from this actor."""

    watcher: ActorRef[Any]


@attrs.frozen(eq=False)
class Failed:
    """From child to parent: a handler failed; the child waits for a directive."""

    child: Any  # Cell; typed loosely because cells live above this layer
    error: Exception
    incarnation: int


@attrs.frozen(eq=False)
class ChildTerminated:
    """From child to parent: the child is gone and its name is free."""

    child: Any  # Cell
    error: BaseException | None


@attrs.frozen(eq=False)
class Resume:
    """From parent to child: carry on with the next message."""

    incarnation: int


@attrs.frozen(eq=False)
class Restart:
    """From parent to child: replace the instance (after stopping its children)."""

    error: BaseException
    incarnation: int


@attrs.frozen(eq=False)
class TimerFired:
    """User-lane wrapper for a timer's message; stale generations are dropped."""

    key: object
    generation: int
    message: object


@attrs.frozen(eq=False)
class InjectedFailure:
    """User-lane stand-in for *message*: the actor fails with *error* instead.

    Used by fault injection (``actorlib.testing``) so that an injected crash
    takes exactly the path of a real handler failure.
    """

    error: Exception
    message: object
