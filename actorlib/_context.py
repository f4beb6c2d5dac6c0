"""ActorContext: what an actor may do to the runtime, a thin facade over its cell."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from ._messages import Stop, Unwatch, Watch, as_envelope
from ._ref import ActorRef
from ._spawner import Spawner
from ._timers import Timers
from ._transport import SpawnSpec
from ._waits import Asker, forward_cycle

if TYPE_CHECKING:
    from ._cell import Cell
    from ._system import ActorSystem

Handler = Callable[[Any], Awaitable[object]]


class ActorContext(Spawner):
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
        if current is None:
            return None
        return current[1] if type(current) is tuple else as_envelope(current).sender

    @property
    def timers(self) -> Timers:
        """This actor's keyed timers."""
        cell = self._cell
        if cell.timers is None:
            cell.timers = Timers(cell)
        return cell.timers

    # spawn() itself, typed for every actor class, comes from Spawner.

    def _spawn_spec(self, spec: SpawnSpec) -> ActorRef[Any]:
        return self._cell.system._spawn_under(self._cell, spec)

    async def _spawn_placed_spec(self, spec: SpawnSpec, node: object) -> ActorRef[Any]:
        return await self._cell.system._spawn_placed(self._cell, node, spec)

    def watch(self, ref: ActorRef[Any]) -> None:
        """Receive `Terminated(ref, error)` when *ref* stops (at once if it already has).

        Raises:
            TypeError: *ref* is not an ActorRef.
        """
        ref = _check_ref(ref, "watch")
        cell = self._cell
        if ref == cell.ref:
            return
        if cell.watching is None:
            cell.watching = set()
        cell.watching.add(ref)
        ref._target.post_system(Watch(cell.ref))

    def unwatch(self, ref: ActorRef[Any]) -> None:
        """Stop watching *ref*; no `Terminated` for it arrives afterwards."""
        ref = _check_ref(ref, "unwatch")
        cell = self._cell
        if cell.watching is not None and ref in cell.watching:
            # Forgetting it here is what drops a notice already on its way.
            cell.watching.discard(ref)
            ref._target.post_system(Unwatch(cell.ref))

    def stop(self, ref: ActorRef[Any] | None = None) -> None:
        """Stop this actor (after the current message), or one of its children.

        Raises:
            ValueError: *ref* is neither this actor nor one of its children.
        """
        cell = self._cell
        if ref is None or _check_ref(ref, "stop") == cell.ref:
            cell.post_system(Stop(None))
            return
        child = cell.children.get(ref.name) if cell.children else None
        if child is None and getattr(ref._target, "parent", None) is cell:
            return  # a child that has already terminated: nothing to do (as in Akka)
        if child is None or child.ref != ref:
            raise ValueError(
                f"context.stop() can stop this actor or its children, got {ref.path} which is "
                f"not a child of {cell.path}; use `await system.stop(ref)` or tell it a PoisonPill"
            )
        child.post_system(Stop(None))

    def forward(self, ref: ActorRef[Any]) -> None:
        """Send the message being handled on to *ref*, as if its sender had sent it.

        The original sender stays the sender, and an ask stays with the
        message: the asker gets *ref*'s reply (or its error), not this
        actor's return value. This is how routers hand work to their routees.
        If the asker is an actor that *ref* waits on (through a chain of
        asks), the ask would never be answered: the asker gets an
        `AskCycleError` at once instead, and *ref* never sees the message.

        Raises:
            TypeError: *ref* is not an ActorRef.
            RuntimeError: called outside of message handling, or twice for
                one message.
        """
        ref = _check_ref(ref, "forward")
        cell = self._cell
        current = cell.current
        if current is None:
            raise RuntimeError(
                f"forward() of actor {cell.path} called outside of message handling, or "
                f"the current message was already forwarded or stashed; call it from receive()"
            )
        cell.current = None  # handed off: this actor does not answer its ask
        envelope = as_envelope(current)
        slot = envelope.reply
        target = ref._target
        if slot is None:
            target.tell(envelope.message, envelope.sender)
            return
        if slot.forwarded_to is None:
            slot.forwarded_to = [target]
        else:
            slot.forwarded_to.append(target)
        asker = envelope.sender
        if (
            asker is not None
            and isinstance(asker._target, Asker)
            and not slot.done
            and cell.system.direct_delivery  # see Cell._refuse_cycle
        ):
            # The ask now waits on *target*: if that closes a cycle, the asker
            # learns it at once, as it would have had it asked *target* itself.
            cycle = forward_cycle(asker._target, slot)
            if cycle is not None:
                cell.system.delivery.reply(slot, None, cycle)
                return
        target.post(envelope)

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
        cell = self._cell
        if cell.behaviors is None:
            cell.behaviors = []
        if discard_old and cell.behaviors:
            cell.behaviors.pop()
        cell.behaviors.append(handler)
        cell.handler = handler

    def unbecome(self) -> None:
        """Return to the previous behaviour (to `receive` at the bottom of the stack)."""
        cell = self._cell
        if cell.behaviors:
            cell.behaviors.pop()
        if cell.behaviors:
            cell.handler = cell.behaviors[-1]
        elif cell.instance is not None:
            cell.handler = cell.instance.receive

    def stash(self) -> None:
        """Set the current message aside until `unstash_all` (an ask waits with it).

        Raises:
            RuntimeError: called outside of message handling.
        """
        cell = self._cell
        current = cell.current
        if current is None:
            raise RuntimeError(
                f"stash() of actor {cell.path} called outside of message handling, or the "
                f"current message was already stashed; call it once from receive()"
            )
        if cell.stash is None:
            cell.stash = []
        cell.stash.append(current)
        cell.current = None  # tells the cell not to answer its ask yet

    def unstash_all(self) -> None:
        """Put every stashed message back, ahead of the messages already waiting."""
        cell = self._cell
        if cell.stash:
            stash, cell.stash = cell.stash, None
            cell.mailbox.push_front_user(stash)


def _is_async_callable(obj: object) -> bool:
    call = getattr(obj, "__call__", None)  # noqa: B004 - we need the bound method itself
    return call is not None and inspect.iscoroutinefunction(call)


def _check_ref(ref: object, what: str) -> ActorRef[Any]:
    if not isinstance(ref, ActorRef):
        raise TypeError(f"{what}() expects an ActorRef, got {ref!r}")
    return ref
