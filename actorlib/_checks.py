"""Validation of what users pass to spawn: names and actor classes; no runtime here."""

from __future__ import annotations

import inspect
import re
import weakref

from ._actor import Actor

_NAME = re.compile(r"[A-Za-z0-9_.\-]+")

# Classes that passed check_actor_class, with the receive they passed with:
# a spawn of one of them costs a dict lookup, not the inspection again.
_checked: weakref.WeakKeyDictionary[type, object] = weakref.WeakKeyDictionary()
_UNSEEN = object()


def check_name(name: object, what: str = "name") -> str:
    """Validate an actor or system name: letters, digits, '-', '_' and '.'.

    Raises:
        TypeError: not a str.
        ValueError: empty, or other characters.
    """
    if not isinstance(name, str):
        raise TypeError(f"{what} must be a str, got {name!r}")
    if not _NAME.fullmatch(name):
        raise ValueError(
            f"{what} must be a non-empty string of ASCII letters, digits, '-', '_' and '.', "
            f"got {name!r}"
        )
    return name


def check_actor_class(actor_class: object) -> type[Actor]:
    """Validate what was passed to spawn().

    Raises:
        TypeError: an instance, a non-Actor, Actor itself, or a class whose
            ``receive`` is missing or not ``async def``.
    """
    if isinstance(actor_class, type) and _checked.get(actor_class, _UNSEEN) is getattr(
        actor_class, "receive", None
    ):
        return actor_class  # it passed the checks below before
    if isinstance(actor_class, Actor):
        cls = type(actor_class).__name__
        raise TypeError(
            f"spawn() expects an Actor subclass, got an instance of {cls}; "
            f"pass the class: spawn({cls}, ...)"
        )
    if not (isinstance(actor_class, type) and issubclass(actor_class, Actor)):
        raise TypeError(
            f"spawn() expects an Actor subclass, got {actor_class!r}; "
            f"define `class MyActor(actorlib.Actor)` and pass MyActor"
        )
    if actor_class.receive is Actor.receive:
        raise TypeError(
            f"{actor_class.__name__} does not implement receive(); "
            f"define `async def receive(self, message)`"
        )
    if not inspect.iscoroutinefunction(actor_class.receive):
        raise TypeError(
            f"{actor_class.__name__}.receive must be a coroutine function; "
            f"define it with `async def receive(self, message)`, not `def`"
        )
    _checked[actor_class] = actor_class.receive
    return actor_class
