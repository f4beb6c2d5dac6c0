"""Typed actors the cases share: a counter that accepts Incr | Get, an untyped echo."""

from __future__ import annotations

import attrs

from actorlib import Actor, Request


@attrs.frozen
class Incr:
    """Add *by* to the count."""

    by: int = 1


@attrs.frozen
class Get(Request[int]):
    """Ask for the count."""


@attrs.frozen
class Name(Request[str]):
    """A request the counter does not accept."""


class Counter(Actor[Incr | Get]):
    """Counts; the typed actor of the cases."""

    def __init__(self, start: int, *, step: int = 1) -> None:
        self.count = start
        self.step = step

    async def receive(self, message: Incr | Get) -> object:
        match message:
            case Incr(by=by):
                self.count += by * self.step
                return None
            case Get():
                return self.count


class Echo(Actor):
    """Untyped: accepts anything, as every actor did before Actor[M]."""

    async def receive(self, message: object) -> object:
        return message


class Bare(Actor[str]):
    """No __init__: takes no constructor arguments."""

    async def receive(self, message: str) -> object:
        return message
