"""Faults a simulated run injects at delivery time: crash an actor, drop, duplicate, delay."""

from __future__ import annotations

import math
from typing import TypeAlias

import attrs

from .._errors import ActorError


def _path(value: str | None) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise TypeError(f"an actor must be given by its path or name, got {value!r}")
    return value if value.startswith("/") else f"/user/{value}"


def _positive(_: object, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{attribute.name} must be an int >= 1 (1 is the first), got {value!r}")


@attrs.define(auto_exc=True, str=False, repr=False, slots=False)
class InjectedFault(ActorError):
    """The error an injected `Crash` makes the actor fail with.

    Attributes:
        actor: the path of the crashed actor.
        at_message: which of its messages it was handling (1 for the first).
    """

    actor: str = ""
    at_message: int = 0

    def __str__(self) -> str:
        return f"injected crash of {self.actor} at its message #{self.at_message}"


@attrs.frozen
class Crash:
    """The actor fails (as if its handler raised `InjectedFault`) at its n-th message.

    The message is consumed like a failing message (not retried); an ask of it
    gets the `InjectedFault`; the parent's strategy decides what happens.

    Attributes:
        actor: the actor's path (``/user/a``) or top-level name (``a``).
        at_message: 1 for its first delivered message.
    """

    actor: str = attrs.field(converter=_path)
    at_message: int = attrs.field(default=1, validator=_positive)


@attrs.frozen
class Drop:
    """The n-th message delivered to *to* (to anyone, if None) is lost in transit.

    It is recorded in the trace and published as a `DeadLetter`; an ask of it
    gets no reply (its timeout decides).
    """

    to: str | None = attrs.field(default=None, converter=_path)
    nth: int = attrs.field(default=1, validator=_positive)


@attrs.frozen
class Duplicate:
    """The n-th message delivered to *to* (to anyone, if None) arrives twice.

    The copy travels behind the original on the same channel; if the original
    was an ask, the copy's reply goes nowhere.
    """

    to: str | None = attrs.field(default=None, converter=_path)
    nth: int = attrs.field(default=1, validator=_positive)


def _delay_seconds(_: object, __: object, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"Delay seconds must be a number, got {value!r}")
    if math.isnan(value) or math.isinf(value) or value <= 0:
        raise ValueError(f"Delay seconds must be a finite number > 0, got {value!r}")


@attrs.frozen
class Delay:
    """The n-th message delivered to *to* waits *seconds* of virtual time first.

    Messages behind it on the same sender -> recipient channel wait too
    (per-sender order is never broken).
    """

    seconds: float = attrs.field(validator=_delay_seconds)
    to: str | None = attrs.field(default=None, converter=_path)
    nth: int = attrs.field(default=1, validator=_positive)


Fault: TypeAlias = Crash | Drop | Duplicate | Delay
"""Any one fault to inject: a `Crash`, `Drop`, `Duplicate` or `Delay`.

`SimulatedSystem(faults=[...])` takes a list of them, and the `faults()`
strategy draws such lists.
"""
