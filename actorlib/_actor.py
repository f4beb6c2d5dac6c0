"""The Actor base class users subclass; the runtime around it lives in the cell."""

from __future__ import annotations

from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, ClassVar, Generic

if TYPE_CHECKING:
    from ._context import ActorContext
    from ._ref import ActorRef
    from ._supervision import SupervisorStrategy

# The (ref, context) of the actor being constructed, so that `self.ref` and
# `self.context` already work inside a subclass's __init__.
constructing: ContextVar[tuple[ActorRef[Any], ActorContext] | None] = ContextVar(
    "actorlib_constructing", default=None
)

# The messages an actor accepts. It defaults to Any so that a plain
# `class Counter(Actor)` stays an untyped actor (and `mypy --strict` does not
# ask for a parameter); contravariant like ActorRef's, since it is only ever
# consumed: an actor that accepts more can stand where one that accepts less
# is expected.
# A default (PEP 696) lets an untyped subclass mean "any message". Only type
# checkers need it: typing has it from Python 3.13, and the runtime needs
# no typing_extensions (the only runtime dependencies are anyio, attrs, cloudpickle).
if TYPE_CHECKING:
    from typing_extensions import TypeVar

    MsgT = TypeVar("MsgT", contravariant=True, default=Any)
else:
    from typing import TypeVar

    MsgT = TypeVar("MsgT", contravariant=True)


class Actor(Generic[MsgT]):
    """Subclass it and implement `receive`; spawn it with `ActorSystem.spawn`.

    An actor handles one message at a time, even while its handler awaits, so
    its state needs no locks. The runtime creates instances: never call the
    class yourself. After a restart a fresh instance is created from the same
    class and arguments.

    Declare the messages it accepts to have them checked by a type checker:
    ``class Counter(Actor[Incr | Get])`` makes ``await system.spawn(Counter)``
    an ``ActorRef[Incr | Get]``, so ``ref.tell("oops")`` is a type error. A
    plain ``class Counter(Actor)`` accepts anything (``ActorRef[Any]``).

    Attributes:
        supervisor_strategy: how failures of this actor's children are
            handled; None (default) means ``OneForOne()``.
        ref: this actor's own `ActorRef`.
        context: this actor's `ActorContext` (children, timers, watch, ...).
    """

    supervisor_strategy: ClassVar[SupervisorStrategy | None] = None
    ref: ActorRef[MsgT]
    context: ActorContext

    if not TYPE_CHECKING:
        # Hidden from type checkers: its (*args, **kwargs) would stand for
        # the constructor of a subclass without __init__, and spawn would
        # then accept any arguments for it.

        def __new__(cls, *args: object, **kwargs: object) -> Actor[Any]:
            self = super().__new__(cls)
            binding = constructing.get()
            if binding is not None:
                self.ref, self.context = binding
            return self

    async def receive(self, message: MsgT) -> object:
        """Handle one message; the return value answers `ActorRef.ask`.

        Raises:
            Exception: any exception is a failure, handled by the parent's
                supervisor strategy (and re-raised in the asker, if any).
        """
        raise NotImplementedError(f"{type(self).__name__} must implement `async def receive`")

    async def on_start(self) -> None:
        """Called before the first message of each instance; a failure here is a failure."""

    async def on_stop(self) -> None:
        """Called once when an instance whose `on_start` completed is discarded.

        That is on stop, on shutdown, and for the old instance on restart.
        Errors are logged and do not stop the shutdown.
        """

    async def on_restart(self, error: BaseException) -> None:
        """Called on the new instance after a restart, before its `on_start`.

        Args:
            error: the failure that caused the restart.
        """
