"""Dead letters: count, log and publish messages that could not be delivered.

Also the bounded repr (`brief`) that logs use for messages and values that
may be large or come from a peer.
"""

from __future__ import annotations

import dataclasses
import enum
import logging
import reprlib
from typing import TYPE_CHECKING, Any

import attrs

from ._messages import DeadLetter

if TYPE_CHECKING:
    from ._events import EventStream
    from ._ref import ActorRef

logger = logging.getLogger("actorlib")

_LOGGED_DEAD_LETTERS = 10


class _Brief(reprlib.Repr):
    """A `reprlib.Repr` whose cost is bounded whatever the value.

    Bytes, big ints, attrs classes and dataclasses are cut short like str
    and containers are; any other object shows as ``<module.Class object>``,
    never through its own ``__repr__``, whose cost nobody bounds.
    """

    def __init__(self) -> None:
        super().__init__()
        self.maxlevel = 3
        self.maxstring = self.maxother = 120
        self.maxtuple = self.maxlist = self.maxset = self.maxfrozenset = 8
        self.maxdict = self.maxdeque = 8

    def repr1(self, x: object, level: int) -> str:
        kind = type(x)
        if kind in (str, int, float, bool, complex, tuple, list, dict, set, frozenset):
            return super().repr1(x, level)
        if isinstance(x, enum.Enum):
            return f"{kind.__name__}.{x.name}"
        if x is None or isinstance(x, type) or kind.__module__.partition(".")[0] == "actorlib":
            return repr(x)  # cheap and bounded: a class, a ref, actorlib's own objects
        if isinstance(x, bytes | bytearray | memoryview):
            data = bytes(x[: self.maxstring])
            more = f"...<{len(x)} bytes>" if len(x) > self.maxstring else ""
            shown = repr(data) if kind is bytes else f"{kind.__name__}({data!r})"
            return f"{shown}{more}"
        if level <= 0:
            return f"{kind.__name__}(...)"
        if attrs.has(kind) or dataclasses.is_dataclass(x):
            names = [
                f.name
                for f in (attrs.fields(kind) if attrs.has(kind) else dataclasses.fields(x))  # type: ignore[arg-type]
            ]
            shown = ", ".join(
                f"{name}={self.repr1(getattr(x, name, None), level - 1)}"
                for name in names[: self.maxtuple]
            )
            return f"{kind.__name__}({shown}{', ...' if len(names) > self.maxtuple else ''})"
        if isinstance(x, BaseException):
            return f"{kind.__name__}{self.repr_tuple(x.args, level)}"
        if isinstance(x, tuple):  # a named tuple
            return f"{kind.__name__}{self.repr_tuple(x, level)}"
        return f"<{kind.__module__}.{kind.__qualname__} object>"

    def repr_int(self, x: int, level: int) -> str:
        if x.bit_length() > 256:  # str() of a huge int is slow, and refused past 4300 digits
            return f"<int of {x.bit_length()} bits>"
        return super().repr_int(x, level)


_BRIEF = _Brief()


def brief(value: object) -> str:
    """A short repr of *value* for a log line, at a cost bounded whatever its size.

    Used wherever a message or a value that came from a peer is logged.
    """
    try:
        return _BRIEF.repr(value)
    except Exception:  # a broken attribute, a property that raises
        return f"<{type(value).__qualname__} object>"


class DeadLetters:
    """One system's dead letters: a counter, the first few logged, all published."""

    def __init__(self, events: EventStream) -> None:
        self.events = events
        self.count = 0

    def record(
        self, message: object, recipient: ActorRef[Any] | None, sender: ActorRef[Any] | None
    ) -> None:
        """Count, log (the first few) and publish `DeadLetter` for *message*."""
        self.count += 1
        if self.count <= _LOGGED_DEAD_LETTERS:
            logger.info(
                "dead letter %d: %s to %s%s",
                self.count,
                brief(message),
                "nobody" if recipient is None else recipient.path,
                "; further dead letters are not logged: subscribe to DeadLetter to see them"
                if self.count == _LOGGED_DEAD_LETTERS
                else "",
            )
        if type(message) is DeadLetter:
            return  # an undeliverable DeadLetter event must not breed another
        if self.events.has_subscribers():
            self.events.publish(DeadLetter(message, recipient, sender))
