"""Routers: Pool (spawns and supervises its workers) and Group (routes to given actors)."""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import attrs

from .._actor import Actor
from .._checks import check_actor_class
from .._messages import Failure, PoisonPill, Request, Terminated
from .._ref import ActorRef
from .._supervision import SupervisorStrategy
from .._transport import Placement
from ._strategies import RoundRobin, RoutingStrategy

logger = logging.getLogger("actorlib")


@attrs.frozen
class GetRoutees(Request[tuple[ActorRef[Any], ...]]):
    """Ask a router for its current routees (a tuple of refs, in order)."""


@attrs.frozen
class Resize(Request[int]):
    """Ask a Pool to grow or shrink to *size* workers; the reply is the new size."""

    size: int


# The messages a router routes: its routees' (a Pool of Actor[M] workers is
# an Actor[M]); Any for untyped routees. Not M | GetRoutees | Resize, though
# a router accepts those too: mypy cannot infer the routees' M through such a
# union when M is itself a union (spawn(Pool, Worker, 4) fails to type-check
# for a Worker of Actor[A | B]). Asks of GetRoutees and Resize still type-check
# (they are Requests), and `routees` and `resize` take any ref.
# A default (PEP 696) lets an untyped subclass mean "any message". Only type
# checkers need it: typing has it from Python 3.13, and the runtime needs
# no typing_extensions (the only runtime dependencies are anyio, attrs, cloudpickle).
if TYPE_CHECKING:
    from typing_extensions import TypeVar

    RouteeMsgT = TypeVar("RouteeMsgT", contravariant=True, default=Any)
    RouterMsgT = TypeVar("RouterMsgT", contravariant=True, default=Any)
else:
    from typing import TypeVar

    RouteeMsgT = TypeVar("RouteeMsgT", contravariant=True)
    RouterMsgT = TypeVar("RouterMsgT", contravariant=True)


def _check_size(size: object) -> int:
    if isinstance(size, bool) or not isinstance(size, int):
        raise TypeError(f"a pool size must be an int, got {size!r}")
    if size < 1:
        raise ValueError(f"a pool size must be at least 1, got {size!r}")
    return size


def _check_strategy(strategy: object) -> RoutingStrategy:
    if strategy is None:
        return RoundRobin()
    if not callable(getattr(strategy, "select", None)):
        raise TypeError(
            f"strategy must be a routing strategy such as RoundRobin() or "
            f"ConsistentHashing(key=...), got {strategy!r}"
        )
    # Each router instance gets its own copy: strategies keep state (a
    # round-robin position, a hash ring) that two routers must not share.
    return copy.copy(strategy)  # type: ignore[return-value]


class _Router(Actor[RouterMsgT]):
    """What Pool and Group share: route every message but their own protocol."""

    def __init__(self, strategy: RoutingStrategy | None) -> None:
        self.strategy = _check_strategy(strategy)
        self.routees: list[ActorRef[Any]] = []
        # Removed on purpose (a shrink) but not yet terminated: their
        # Terminated is the router's business, never a message to route.
        self.retiring: set[ActorRef[Any]] = set()

    async def receive(self, message: object) -> object:
        match message:
            case GetRoutees():
                return tuple(self.routees)
            case Terminated(ref=ref) if ref in self.retiring:
                self.retiring.discard(ref)
                return None
            case Terminated(ref=ref) if ref in self.routees:
                self._lost(ref)
                return None
        return await self.handle(message)

    async def handle(self, message: object) -> object:
        """Route *message* (Pool adds Resize)."""
        return self.route(message)

    def route(self, message: object) -> Failure | None:
        """Forward *message* to the routees the strategy picks.

        A strategy that cannot place the message (a key function that raises)
        refuses it: the message is a dead letter, an asker gets the error, and
        the router, which is not broken, is not restarted.
        """
        context = self.context
        if not self.routees:
            context.system.dead_letter(message, self.ref, context.sender)
            return None
        try:
            chosen = self.strategy.select(message, self.routees, context.system.random)
        except Exception as error:
            logger.warning("router %s cannot route %r: %r", self.ref.path, message, error)
            context.system.dead_letter(message, self.ref, context.sender)
            return Failure(error)
        sender = context.sender
        for other in chosen[1:]:
            other._target.tell(message, sender)
        # The first one gets the message as it came, its ask included.
        context.forward(chosen[0])
        return None

    def _lost(self, ref: ActorRef[Any]) -> None:
        self.routees.remove(ref)
        logger.warning("router %s lost its routee %s", self.ref.path, ref.path)
        if not self.routees:
            logger.warning("router %s has no routee left; stopping it", self.ref.path)
            self.context.stop()


class Pool(_Router[RouteeMsgT]):
    """A router that spawns *size* workers as its children and routes to them.

    Spawn it like any actor: ``await system.spawn(Pool, Worker, 4, strategy=...)``.
    For ``class Worker(Actor[M])`` the ref is an ``ActorRef[M]``, like a
    worker's; `resize` and `routees` (or an ask of `Resize` and
    `GetRoutees`) reach the pool itself.
    Workers are named ``worker-1``, ``worker-2``... and built as
    ``worker_class(*args, **kwargs)``. A worker's failure is handled by
    *worker_supervisor* (default ``OneForOne()``): a restarted worker keeps
    its place and the pool keeps serving; a worker stopped for good is
    dropped, and the pool stops when none is left. Send ``Resize(n)`` (or use
    `resize`) to change the size at run time; removed workers get a
    PoisonPill, so what they had queued is still handled.

    Args:
        worker_class: the workers' Actor subclass.
        size: how many workers.
        args: positional arguments for each worker.
        strategy: which worker gets a message (default `RoundRobin`).
        worker_supervisor: the strategy for the workers' failures.
        worker_node: where the workers run (a placement such as
            ``actorlib.remote.NodeSet(nodes)``); None: in this process.
        kwargs: keyword arguments for each worker.

    Raises:
        TypeError: *worker_class* is not an Actor subclass, or a bad strategy.
        ValueError: *size* below 1.
    """

    def __init__(
        self,
        worker_class: type[Actor[RouteeMsgT]],
        size: int,
        *args: object,
        strategy: RoutingStrategy | None = None,
        worker_supervisor: SupervisorStrategy | None = None,
        worker_node: Placement | None = None,
        **kwargs: object,
    ) -> None:
        super().__init__(strategy)
        self.worker_node = worker_node
        self.worker_class = check_actor_class(worker_class)
        self.size = _check_size(size)
        if worker_supervisor is not None and not isinstance(worker_supervisor, SupervisorStrategy):
            raise TypeError(
                f"worker_supervisor must be a SupervisorStrategy such as OneForOne(), "
                f"got {worker_supervisor!r}"
            )
        self.worker_supervisor = worker_supervisor
        self.args = args
        self.kwargs: dict[str, Any] = kwargs
        self._spawned = 0

    async def on_start(self) -> None:
        for _ in range(self.size):
            await self._add_worker()

    async def handle(self, message: object) -> object:
        if isinstance(message, Resize):
            return await self._resize(message.size)
        return self.route(message)

    async def _add_worker(self) -> None:
        self._spawned += 1
        ref = await self.context.spawn(
            self.worker_class,
            *self.args,
            name=f"worker-{self._spawned}",
            supervisor=self.worker_supervisor,
            node=self.worker_node,
            **self.kwargs,
        )
        self.routees.append(ref)

    async def _resize(self, size: object) -> int | Failure:
        try:
            wanted = _check_size(size)
        except (TypeError, ValueError) as error:
            # A bad size must not fail (and so restart) the pool: refuse it.
            return Failure(error)
        while len(self.routees) < wanted:
            await self._add_worker()
        while len(self.routees) > wanted:
            # Youngest first; the pill lets it finish what it has queued.
            retired = self.routees.pop()
            self.retiring.add(retired)
            retired.tell(PoisonPill())
        self.size = wanted
        return wanted


class Group(_Router[RouteeMsgT]):
    """A router over actors that already exist (it neither spawns nor supervises them).

    For routees of type ``ActorRef[M]`` the ref is an ``ActorRef[M]``.

    It watches its routees, drops one that terminates, and stops when none
    is left.

    Args:
        routees: the actors to route to (at least one).
        strategy: which routee gets a message (default `RoundRobin`).

    Raises:
        TypeError: *routees* holds something that is not an ActorRef.
        ValueError: *routees* is empty.
    """

    def __init__(
        self, routees: Iterable[ActorRef[RouteeMsgT]], *, strategy: RoutingStrategy | None = None
    ) -> None:
        super().__init__(strategy)
        given = list(routees)
        for ref in given:
            if not isinstance(ref, ActorRef):
                raise TypeError(f"a Group routes to ActorRefs, got {ref!r}")
        refs = list(dict.fromkeys(given))  # each routee once, in the order given
        if not refs:
            raise ValueError("a Group needs at least one routee, got none")
        self.routees = refs

    async def on_start(self) -> None:
        for ref in self.routees:
            self.context.watch(ref)


async def routees(router: ActorRef[Any]) -> tuple[ActorRef[Any], ...]:
    """The current routees of a Pool or Group, in order."""
    return await router.ask(GetRoutees())


async def resize(pool: ActorRef[Any], size: int) -> int:
    """Grow or shrink a Pool to *size* workers; returns the new size.

    Raises:
        TypeError: *size* is not an int.
        ValueError: *size* below 1.
    """
    _check_size(size)
    return await pool.ask(Resize(size))
