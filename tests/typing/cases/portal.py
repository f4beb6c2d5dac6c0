"""The blocking portal of actorlib.testing types refs and replies like the async API."""

from __future__ import annotations

from typing import Any, assert_type

from actorlib import ActorRef
from actorlib.testing import SystemPortal

from .messages import Counter, Echo, Get, Incr


def portal_calls(portal: SystemPortal) -> None:
    counter = portal.spawn(Counter, 10, name="counter")
    assert_type(counter, ActorRef[Incr | Get])
    portal.tell(counter, Incr())
    portal.tell(counter, "oops")  # E: Cannot infer value of type parameter "M" of "tell"
    assert_type(portal.ask(counter, Get()), int)
    text: str = portal.ask(counter, Get())  # E: Incompatible types in assignment
    portal.ask(counter, "get")  # E: Cannot infer value of type parameter "M" of "ask"
    echo = portal.spawn(Echo)
    assert_type(echo, ActorRef[Any])
    portal.tell(echo, "anything")
    del text
