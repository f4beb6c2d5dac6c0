"""ActorContext: what an actor may do to the runtime, a thin facade over its cell."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from ._ref import ActorRef
from ._timers import Timers

if TYPE_CHECKING:
    from ._actor import Actor
    from ._cell import Cell
    from ._mailbox import Mailbox
    from ._supervision import SupervisorStrategy
    from ._system import ActorSystem

Handler = Callable[[Any], Awaitable[object]]


class ActorContext:
    """The runtime as seen from inside one actor (``self.context``).

    Only use it from the actor's own handlers and hooks: it is not
    thread-safe and not meant to be handed to other actors.
    """

    __slots__ = ("_cell",)

    def __init__(self, cell: Cell) -> None:
        self._cell = cell

    @property
    def system(self) -> ActorSystem:
        """The actor system this actor lives in."""
        return self._cell.system

    @property
    def self(self) -> ActorRef[Any]:
        """This actor's own ref (the same as ``actor.ref``)."""
        return self._cell.ref

    @property
    def parent(self) -> ActorRef[Any] | None:
        """The parent's ref; None only for the root guardian."""
        parent = self._cell.parent
        return None if parent is None else parent.ref

    @property
    def children(self) -> tuple[ActorRef[Any], ...]:
        """The live children, in start order."""
        children = self._cell.children
        return tuple(c.ref for c in children.values()) if children else ()

    @property
    def sender(self) -> ActorRef[Any] | None:
        """The sender of the message being handled (None if sent from outside any actor)."""
        current = self._cell.current
        return None if current is None else current.sender

    @property
    def timers(self) -> Timers:
        """This actor's keyed timers."""
        cell = self._cell
        if cell.timers is None:
            cell.timers = Timers(cell)
        return cell.timers

    async def spawn(
        self,
        actor_class: type[Actor],
        *args: object,
        name: str | None = None,
        mailbox: Mailbox | None = None,
        supervisor: SupervisorStrategy | None = None,
        **kwargs: object,
    ) -> ActorRef[Any]:
        """Start a child of this actor; see `ActorSystem.spawn` for the arguments.

        Raises:
            TypeError: *actor_class* is not an Actor subclass (see `ActorSystem.spawn`).
            ValueError: an invalid name.
            NameTaken: a sibling already has *name*.
        """
        return self._cell.system._spawn_under(
            self._cell, actor_class, args, kwargs, name, mailbox, supervisor
        )

    def watch(self, ref: ActorRef[Any]) -> None:
        """Receive `Terminated(ref, error)` when *ref* stops (at once if it already has).

        Raises:
            TypeError: *ref* is not an ActorRef.
        """
        self._cell.watch(_check_ref(ref, "watch"))

    def unwatch(self, ref: ActorRef[Any]) -> None:
        """Stop watching *ref*; no `Terminated` for it arrives afterwards."""
        self._cell.unwatch(_check_ref(ref, "unwatch"))

    def stop(self, ref: ActorRef[Any] | None = None) -> None:
        """Stop this actor (after the current message), or one of its children.

        Raises:
            ValueError: *ref* is neither this actor nor one of its children.
        """
        self._cell.stop_child_or_self(None if ref is None else _check_ref(ref, "stop"))

    def become(self, handler: Handler, *, discard_old: bool = True) -> None:
        """Handle the following messages with *handler* instead of `receive`.

        Args:
            handler: an ``async def`` taking the message, returning the reply.
            discard_old: replace the current behaviour (default) rather than
                push onto a stack that `unbecome` pops.

        Raises:
            TypeError: *handler* is not an async callable.
        """
        if not (inspect.iscoroutinefunction(handler) or _is_async_callable(handler)):
            raise TypeError(
                f"become() expects an async function taking the message, got {handler!r}; "
                f"define it with `async def`"
            )
        self._cell.become(handler, discard_old=discard_old)

    def unbecome(self) -> None:
        """Return to the previous behaviour (to `receive` at the bottom of the stack)."""
        self._cell.unbecome()

    def stash(self) -> None:
        """Set the current message aside until `unstash_all` (an ask waits with it).

        Raises:
            RuntimeError: called outside of message handling.
        """
        self._cell.stash_current()

    def unstash_all(self) -> None:
        """Put every stashed message back, ahead of the messages already waiting."""
        self._cell.unstash_all()


def _is_async_callable(obj: object) -> bool:
    call = getattr(obj, "__call__", None)  # noqa: B004 - we need the bound method itself
    return call is not None and inspect.iscoroutinefunction(call)


def _check_ref(ref: object, what: str) -> ActorRef[Any]:
    if not isinstance(ref, ActorRef):
        raise TypeError(f"{what}() expects an ActorRef, got {ref!r}")
    return ref
