"""ActorRef, the only handle to an actor; knows targets only through the `Target` protocol."""

from __future__ import annotations

import math
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any, Generic, Protocol, TypeVar, overload

from ._clock import ExpiryQueue, TimerQueue
from ._errors import ActorError, AskTimeout
from ._lowlevel import Waiter
from ._messages import PENDING, Envelope, ReplySlot, Request
from ._waits import Asker, start_waiting, stop_waiting

MsgT = TypeVar("MsgT", contravariant=True)
ReplyT = TypeVar("ReplyT")

# The actor whose handler is running in this task, so that tell/ask record
# their sender without the user passing it. Set once per batch, not per message.
current_sender: ContextVar[ActorRef[Any] | None] = ContextVar("actorlib_sender", default=None)

# How an unpickled ref finds its actor: set by a running system (and by
# transports) around deserialisation. A context variable, not a global registry.
ref_resolver: ContextVar[RefResolver | None] = ContextVar("actorlib_ref_resolver", default=None)


# What an ask needs from its system: the expiry queue that enforces the
# default timeout (None: use a timer), the default timeout, the timer queue,
# and the event factory of the running backend.
AskContext = tuple[ExpiryQueue | None, float | None, TimerQueue, Callable[[], Waiter]]


class Target(Protocol):
    """What a ref needs from the thing behind it (a local cell or a remote proxy)."""

    path: str
    name: str
    uid: int

    def post(self, envelope: Envelope) -> None:
        """Deliver without waiting (overflow policy applies; dead letter if gone)."""
        ...

    def tell(self, message: object, sender: ActorRef[Any] | None) -> None:
        """`post` of a plain message, without building an Envelope when it can."""
        ...

    def post_ask(self, envelope: Envelope) -> object:
        """`post` an ask, or answer it at once: the answer, or `PENDING` for the slot."""
        ...

    async def post_wait(self, envelope: Envelope) -> None:
        """Deliver, waiting for room in a bounded mailbox (dead letter if gone)."""
        ...

    def post_system(self, message: object) -> None:
        """Deliver a runtime message (watch, terminated...) ahead of user messages."""
        ...

    def ask_context(self) -> AskContext:
        """The default timeout's expiry queue, the timer queue, an event factory."""
        ...


class RefResolver(Protocol):
    """Turns a pickled (path, uid) back into a live ref."""

    def resolve(self, path: str, uid: int) -> ActorRef[Any]:
        """Return the ref for that actor incarnation (a dead one if it is gone)."""
        ...


class _DefaultTimeout:
    def __repr__(self) -> str:
        return "<system default>"


DEFAULT_TIMEOUT: Any = _DefaultTimeout()


def check_timeout(timeout: object, what: str = "timeout") -> float | None:
    """Validate a timeout in seconds; None means no timeout.

    Raises:
        TypeError: not a number or None.
        ValueError: negative or NaN.
    """
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, int | float):
        raise TypeError(f"{what} must be a number of seconds or None, got {timeout!r}")
    if math.isnan(timeout) or timeout < 0:
        raise ValueError(f"{what} must be a non-negative number of seconds, got {timeout!r}")
    return float(timeout)


def _restore_ref(path: str, uid: int) -> ActorRef[Any]:
    resolver = ref_resolver.get()
    if resolver is None:
        raise ActorError(
            reason=f"cannot unpickle the ActorRef of {path}: no actor system is running in "
            f"this context; unpickle refs inside `async with ActorSystem(...)`"
        )
    return resolver.resolve(path, uid)


def time_out(slot: ReplySlot, limit: float) -> None:
    """Fail an ask that got no reply within *limit* seconds."""
    count = getattr(slot.recipient._target, "ask_timed_out", None)  # a local actor's counter
    if count is not None:
        count()
    slot.set_error(
        AskTimeout(
            path=slot.recipient.path, message_type=type(slot.message).__name__, timeout=limit
        )
    )


class ActorRef(Generic[MsgT]):
    """The handle to one actor: send it messages, ask it questions.

    Opaque, hashable and picklable. Equal refs denote the same actor
    incarnation: a new actor that reuses a stopped actor's name has a new ref.
    """

    __slots__ = ("__weakref__", "_target")

    def __init__(self, target: Target) -> None:
        self._target = target

    @property
    def path(self) -> str:
        """The actor's path, e.g. ``/user/bank/account-1``."""
        return self._target.path

    @property
    def name(self) -> str:
        """The last element of the path."""
        return self._target.name

    def __repr__(self) -> str:
        return f"ActorRef({self._target.path!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ActorRef):
            return NotImplemented
        a, b = self._target, other._target
        return a is b or (a.uid == b.uid and a.path == b.path)

    def __hash__(self) -> int:
        return hash((self._target.path, self._target.uid))

    def __reduce__(self) -> tuple[object, tuple[str, int]]:
        return _restore_ref, (self._target.path, self._target.uid)

    def tell(self, message: MsgT) -> None:
        """Send *message* without waiting; never blocks.

        A stopped actor turns the message into a `DeadLetter`.

        Raises:
            MailboxFull: the actor's bounded mailbox is full and its policy is
                `Overflow.FAIL` (use `send` to wait for room instead).
        """
        self._target.tell(message, current_sender.get())

    async def send(self, message: MsgT) -> None:
        """Send *message*, waiting for room if the actor's mailbox is bounded and full."""
        await self._target.post_wait(Envelope(message, current_sender.get()))

    # Typing only: a `Request[R]` is answered with an R. Python has no
    # intersection types, so the first overload cannot also demand that the
    # ref accepts the request (MsgT); tell and send, and the ask of any
    # other message, check that. The second one is matched when a context
    # such as `text: str = await ref.ask(Get())` makes mypy solve R from the
    # target (str) and reject the first: without it the request would fall
    # through to the untyped third and the mistake would pass.
    @overload
    async def ask(
        self, message: Request[ReplyT], *, timeout: float | None = DEFAULT_TIMEOUT
    ) -> ReplyT: ...
    @overload
    async def ask(  # type: ignore[overload-cannot-match]  # see above
        self, message: Request[object], *, timeout: float | None = DEFAULT_TIMEOUT
    ) -> object: ...
    @overload
    async def ask(self, message: MsgT, *, timeout: float | None = DEFAULT_TIMEOUT) -> Any: ...
    async def ask(self, message: object, *, timeout: float | None = DEFAULT_TIMEOUT) -> Any:
        """Send *message* and wait for the handler's return value.

        The reply of a `Request` is typed as the request declares
        (``class Get(Request[int])``: ``await ref.ask(Get())`` is an int).
        Any other reply is typed `Any`: what a handler returns depends on
        the message, not on the ref's type, so the caller states what it
        expects.
        An idle local actor whose handler has no ``await`` answers in the
        calling task, without a task switch; the outcome is the same.

        Args:
            message: the message.
            timeout: seconds to wait; the system's default when omitted; None
                waits for ever.

        Raises:
            AskTimeout: no reply within *timeout*.
            ActorStopped: the actor is (or got) stopped before it answered.
            MailboxFull: its bounded mailbox refused or dropped the message.
            AskCycleError: asked from a handler, the ask would wait on its own
                asker: an actor asked itself, or the actor asked (or the one
                it forwarded the ask to) waits, through a chain of asks, on
                the asker. Raised at once, not after the timeout.
            Exception: whatever the handler raised, with a note naming the actor.
        """
        target = self._target
        if timeout is not DEFAULT_TIMEOUT:
            limit = check_timeout(timeout)  # before anything is sent
        slot = ReplySlot(message, self)
        asker = current_sender.get()
        answer = target.post_ask(Envelope(message, asker, slot))
        if answer is not PENDING:
            return answer  # answered in this task, without a task switch
        expiry, default, timers, new_event = target.ask_context()
        if timeout is DEFAULT_TIMEOUT:
            limit = default
        if not slot.done and limit is not None and not math.isinf(limit):
            if timeout is DEFAULT_TIMEOUT and expiry is not None:
                expiry.add(slot)
            else:
                slot.timer = timers.call_later(limit, lambda: time_out(slot, limit))
        # An actor's handler waits: other asks must see it in their walk for
        # cycles (_waits) until this one ends, however it ends.
        waiter: Asker | None = None
        if asker is not None and not slot.done and isinstance(asker._target, Asker):
            waiter = asker._target
            start_waiting(waiter, slot)
        try:
            return await slot.wait(new_event)
        finally:
            # Cancelled (or done): cancel the timeout, and make a late reply a
            # dead letter rather than a value nobody reads.
            slot.abandon()
            if waiter is not None:
                stop_waiting(waiter, slot)
            if slot.trace is not None:
                slot.trace.end(slot._error, done=slot.done)
