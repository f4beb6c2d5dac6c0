"""The path registry: live actors by path, counts per actor class, refs resolved, the tree view."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import attrs

from ._actor import Actor
from ._cell import Cell
from ._errors import ActorStopped
from ._lifecycle import State
from ._messages import PENDING, Envelope, Terminated, Watch
from ._ref import ActorRef, AskContext

if TYPE_CHECKING:
    from ._system import ActorSystem


@attrs.frozen
class ActorClassStatistics:
    """A snapshot of the actors of one class in a system (`ActorSystem.class_statistics`).

    The counters include the actors of the class that have terminated, so
    they only grow (what metrics call a counter); the others are live values.

    Attributes:
        actor_class: the class, as ``module.QualifiedName``.
        actors: live actors of the class.
        messages: user messages handled so far (those that failed included).
        restarts: restarts so far.
        mailbox: user messages waiting in the live actors' mailboxes.
        asks: asks sent to actors of the class so far.
        ask_timeouts: those asks that timed out.
    """

    actor_class: str
    actors: int
    messages: int
    restarts: int
    mailbox: int
    asks: int = 0
    ask_timeouts: int = 0


def class_name(actor_class: type[Actor]) -> str:
    """The label of an actor class in statistics and metrics: ``module.QualifiedName``."""
    return f"{actor_class.__module__}.{actor_class.__qualname__}"


class Registry:
    """Every live actor of one system, by path (paths are unique while alive)."""

    def __init__(self, system: ActorSystem) -> None:
        self._system = system
        self._cells: dict[str, Cell] = {}
        # Per class: messages handled, restarts, asks and ask timeouts of the
        # actors that terminated.
        self._retired: dict[type[Actor], tuple[int, int, int, int]] = {}

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
            handled, restarts, asks, timeouts = self._retired.get(cell.factory[0], (0, 0, 0, 0))
            self._retired[cell.factory[0]] = (
                handled + cell.handled,
                restarts + cell.restart_count(),
                asks + cell.asks,
                timeouts + cell.ask_timeouts,
            )

    def class_statistics(self, guardian: Cell | None) -> list[ActorClassStatistics]:
        """Counts per actor class, terminated actors' counters included (see the class).

        Safe to call from another thread (an OpenTelemetry exporter's): the
        dicts are copied first, each copy one step under the GIL, so actors
        starting or stopping meanwhile cannot break the iteration.
        """
        totals: dict[type[Actor], list[int]] = {
            cls: [0, handled, restarts, 0, asks, timeouts]
            for cls, (handled, restarts, asks, timeouts) in list(self._retired.items())
        }
        for cell in list(self._cells.values()):
            if cell is guardian:
                continue
            row = totals.setdefault(cell.factory[0], [0, 0, 0, 0, 0, 0])
            row[0] += 1
            row[1] += cell.handled
            row[2] += cell.restart_count()
            row[3] += cell.mailbox.user_depth
            row[4] += cell.asks
            row[5] += cell.ask_timeouts
        return sorted(
            (ActorClassStatistics(class_name(cls), *row) for cls, row in totals.items()),
            key=lambda stats: stats.actor_class,
        )

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
        if cell.state is State.STOPPED:
            # Stopped in its stopper's task (a direct stop): gone, though its
            # parent has not yet been told.
            continue
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
