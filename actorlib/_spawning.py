"""Creating an actor under a parent: validation, naming, registration, placement."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._cell import Cell
from ._checks import check_actor_class, check_name
from ._errors import ActorError, NameTaken
from ._lifecycle import State
from ._mailbox import Mailbox
from ._supervision import SupervisorStrategy
from ._transport import Placement, SpawnSpec

if TYPE_CHECKING:
    from ._ref import ActorRef
    from ._system import ActorSystem

# Never changed: create_instance only unpacks it (``actor_class(*args, **kwargs)``).
_NO_KWARGS: dict[str, object] = {}


def spawn_under(system: ActorSystem, parent: Cell, spec: SpawnSpec) -> ActorRef[Any]:
    """Create, register and schedule a child of *parent*; return its ref.

    Raises:
        TypeError: not an Actor subclass, a bad mailbox or supervisor.
        ValueError: an invalid name.
        NameTaken: a sibling already has *name*.
        ActorError: *parent* is stopping or stopped.
    """
    actor_class, name, mailbox, supervisor = (
        spec.actor_class,
        spec.name,
        spec.mailbox,
        spec.supervisor,
    )
    check_actor_class(actor_class)
    if mailbox is not None and not isinstance(mailbox, Mailbox):
        raise TypeError(f"mailbox must be a Mailbox(capacity=..., overflow=...), got {mailbox!r}")
    if supervisor is not None and not isinstance(supervisor, SupervisorStrategy):
        raise TypeError(
            f"supervisor must be a SupervisorStrategy such as OneForOne(), got {supervisor!r}"
        )
    if parent.closed:
        raise ActorError(reason=f"cannot spawn a child of {parent.path}: it is stopping or stopped")
    if name is None:
        # `$` never appears in a user's name; unique system-wide to read well in logs.
        name = system._next_auto_name()
    else:
        check_name(name)
    children = parent.children
    if children is None:
        children = parent.children = {}
    elif name in children:
        if children[name].state is not State.STOPPED:
            raise NameTaken(path=f"{parent.path}/{name}")
        # Stopped, its parent not yet told (see _lifecycle.stop_here): the
        # name is free. Re-inserted below, so children stay in start order.
        del children[name]
    # An empty **kwargs is a new dict per spawn (64 bytes kept per actor): share one.
    kwargs = spec.kwargs or _NO_KWARGS
    cell = Cell(system, parent, name, (actor_class, spec.args, kwargs), mailbox, supervisor)
    cell.create_instance()  # raises before anything is registered
    children[name] = cell
    system._register(cell)
    cell.scheduled = True
    system.dispatcher.schedule(cell)
    return cell.ref


async def spawn_placed(
    system: ActorSystem, parent: Cell, node: object, spec: SpawnSpec
) -> ActorRef[Any]:
    """``spawn(..., node=...)``: let the placement start the actor elsewhere.

    Raises:
        TypeError: *node* is not a placement (see `spawn_under` for the rest).
    """
    if not isinstance(node, Placement):
        raise TypeError(
            f"node must be a placement such as a node from `await system.start_nodes(...)` "
            f"or a connected peer, got {node!r}"
        )
    check_actor_class(spec.actor_class)

    def spawn_local(local: SpawnSpec) -> ActorRef[Any]:
        system._check_running("spawn an actor")
        return spawn_under(system, parent, local)

    return await node.place(spawn_local, spec)
