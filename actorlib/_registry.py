"""The path registry: live actors by path, refs resolved after unpickling, the tree view."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import attrs

from ._cell import Cell
from ._errors import ActorStopped
from ._lifecycle import State
from ._messages import PENDING, Envelope, Terminated, Watch
from ._ref import ActorRef, AskContext

if TYPE_CHECKING:
    from ._system import ActorSystem


class Registry:
    """Every live actor of one system, by path (paths are unique while alive)."""

    def __init__(self, system: ActorSystem) -> None:
        self._system = system
        self._cells: dict[str, Cell] = {}

    def __len__(self) -> int:
        return len(self._cells)

    def __iter__(self) -> Iterator[Cell]:
        return iter(list(self._cells.values()))

    def add(self, cell: Cell) -> None:
        """Register a new actor under its path."""
        self._cells[cell.path] = cell

    def remove(self, cell: Cell) -> None:
        """Forget a terminated actor (not a newer one that took its path)."""
        if self._cells.get(cell.path) is cell:
            del self._cells[cell.path]

    def lookup(self, path: str) -> ActorRef[Any] | None:
        """The ref of the live actor at *path* (``/user/a/b``, or ``a/b`` under /user).

        Raises:
            TypeError: *path* is not a str.
        """
        if not isinstance(path, str):
            raise TypeError(f"lookup() expects a path string like '/user/name', got {path!r}")
        if not path.startswith("/"):
            path = f"/user/{path}"
        cell = self._cells.get(path.rstrip("/") or "/")
        return None if cell is None or cell.state is State.STOPPED else cell.ref

    def resolve(self, path: str, uid: int) -> ActorRef[Any]:
        """The live ref for that incarnation, or a ref whose messages are dead letters."""
        cell = self._cells.get(path)
        if cell is not None and cell.uid == uid:
            return cell.ref
        return ActorRef(DeadTarget(self._system, path, uid))


class DeadTarget:
    """What an unpickled ref to an actor that is gone points at."""

    def __init__(self, system: ActorSystem, path: str, uid: int) -> None:
        self.system = system
        self.path = path
        self.name = path.rsplit("/", 1)[-1]
        self.uid = uid

    def ask_context(self) -> AskContext:
        """The system's: an ask fails at once anyway."""
        return self.system.ask_context

    def post(self, envelope: Envelope) -> None:
        """A dead letter; an ask fails with ActorStopped at once."""
        if envelope.reply is not None:
            envelope.reply.set_error(
                ActorStopped(path=self.path, message_type=type(envelope.message).__name__)
            )
        self.system.dead_letter(envelope.message, ActorRef(self), envelope.sender)

    def post_ask(self, envelope: Envelope) -> object:
        """As `post`: the ask fails at once."""
        self.post(envelope)
        return PENDING

    async def post_wait(self, envelope: Envelope) -> None:
        """As `post`."""
        self.post(envelope)

    def tell(self, message: object, sender: ActorRef[Any] | None) -> None:
        """As `post`."""
        self.post(Envelope(message, sender))

    def post_system(self, message: object) -> None:
        """A watch gets its Terminated at once; anything else has no one to reach."""
        if isinstance(message, Watch):
            message.watcher._target.post_system(Terminated(ActorRef(self), None))


def render_tree(name: str, guardian: Cell) -> str:
    """The supervision tree under *guardian*: state, mailbox depth and restarts."""
    lines = [f"{name}: {guardian.path}"]

    def walk(cell: Cell, prefix: str) -> None:
        children = list(cell.children.values()) if cell.children else []
        for index, child in enumerate(children):
            last = index == len(children) - 1
            lines.append(
                f"{prefix}{'└── ' if last else '├── '}{child.name} "
                f"[{child.state.value}] {child.factory[0].__name__} "
                f"mailbox={child.mailbox.user_depth} restarts={child.restart_count()}"
            )
            walk(child, prefix + ("    " if last else "│   "))

    walk(guardian, "")
    return "\n".join(lines)


@attrs.frozen
class ActorStatistics:
    """A snapshot of one live actor, as `ActorSystem.actor_statistics` returns it.

    Attributes:
        path: its path, e.g. ``/user/bank/account-1`` (the parent's path is the prefix).
        name: the last part of its path.
        actor_class: its class's qualified name.
        state: ``starting``, ``running``, ``suspended``, ``restarting`` or ``stopping``.
        mailbox: user messages waiting in its mailbox.
        restarts: how many times it was restarted.
        handled: user messages taken from its mailbox so far (every incarnation);
            two snapshots a second apart give its message rate.
    """

    path: str
    name: str
    actor_class: str
    state: str
    mailbox: int
    restarts: int
    handled: int


def snapshot_tree(guardian: Cell) -> tuple[ActorStatistics, ...]:
    """Every actor under *guardian*, depth-first, each parent before its children."""
    found: list[ActorStatistics] = []
    pending = list(reversed((guardian.children or {}).values()))
    while pending:
        cell = pending.pop()
        found.append(
            ActorStatistics(
                path=cell.path,
                name=cell.name,
                actor_class=cell.factory[0].__qualname__,
                state=cell.state.value,
                mailbox=cell.mailbox.user_depth,
                restarts=cell.restart_count(),
                handled=cell.handled,
            )
        )
        pending.extend(reversed((cell.children or {}).values()))
    return tuple(found)
