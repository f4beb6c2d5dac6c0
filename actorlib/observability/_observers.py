"""Several HandlerObservers on one system: the system holds one, a chain of them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from actorlib import ActorSystem
from actorlib._hooks import HandlerObserver

ObserverT = TypeVar("ObserverT")


class ObserverChain:
    """Two observers as one: *outer* wraps *inner*, which wraps the handler.

    `add_observer` builds it when a second observer joins a system (handler
    timing and tracing both on); each message then pays both.
    """

    __slots__ = ("inner", "outer")

    def __init__(self, outer: HandlerObserver, inner: HandlerObserver) -> None:
        self.outer = outer
        self.inner = inner

    def __repr__(self) -> str:
        return f"ObserverChain({self.outer!r}, {self.inner!r})"

    async def observe(
        self, cell: Any, handler: Callable[[Any], Awaitable[object]], message: object
    ) -> object:
        """HandlerObserver protocol: *outer* around *inner* around the handler."""
        inner = self.inner

        def through_inner(message: object) -> Awaitable[object]:
            return inner.observe(cell, handler, message)

        return await self.outer.observe(cell, through_inner, message)


def observers(system: ActorSystem) -> list[HandlerObserver]:
    """The observers on *system*'s handlers, outermost first."""
    found: list[HandlerObserver] = []
    observer = system.handler_observer
    while observer is not None:
        if isinstance(observer, ObserverChain):
            found.append(observer.outer)
            observer = observer.inner
        else:
            found.append(observer)
            observer = None
    return found


def add_observer(
    system: ActorSystem, kind: type[ObserverT], make: Callable[[], ObserverT]
) -> ObserverT:
    """The observer of type *kind* on *system*; made by *make* and added if none is.

    A new observer goes outside those already there.
    """
    for observer in observers(system):
        if isinstance(observer, kind):
            return observer
    added = make()
    current = system.handler_observer
    new: Any = added
    system.handler_observer = new if current is None else ObserverChain(new, current)
    return added
