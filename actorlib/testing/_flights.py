"""What the controller holds in flight, and the trace step each delivery makes."""

from __future__ import annotations

import math
from typing import Any

import attrs

from .._messages import Envelope, TimerFired
from .._ref import ActorRef
from .._timers import Timer
from . import _system_events as system_events
from ._faults import Fault
from ._schedule import Step, stable_repr


@attrs.define(eq=False)
class Flight:
    """One envelope, reply or system message held in flight (or the next timer)."""

    seq: int
    channel: object
    kind: str  # "tell" | "reply" | "system" | "timer" (not held: fires when chosen)
    sender: ActorRef[Any] | None
    target: Any  # a Cell, but the ReplySlot for "reply"
    envelope: Envelope | None = None
    value: object = None
    error: BaseException | None = None
    not_before: float = -math.inf
    inspected: bool = False  # faults were matched against it already


def _path(ref: ActorRef[Any] | None) -> str:
    return "test" if ref is None else ref.path


def step_for(
    flight: Flight,
    asker: ActorRef[Any] | None,
    number: int,
    choice: int,
    candidates: int,
    fault: Fault | None,
) -> Step:
    """The trace step of delivering *flight* (*asker*: who waits for a reply)."""
    if flight.kind == "system":
        kind, text, recipient = "system", system_events.describe(flight.value), flight.target.path
    elif flight.kind == "timer":  # fired, but its actor had closed: a dead letter
        timer: Timer = flight.value  # type: ignore[assignment]
        kind, text, recipient = "refused", stable_repr(timer.message), flight.target.path
    elif flight.kind == "reply":
        kind = "reply" if flight.error is None else "error"
        text = stable_repr(flight.value if flight.error is None else flight.error)
        recipient = _path(asker)
    else:
        assert flight.envelope is not None
        kind = "ask" if flight.envelope.reply is not None else "tell"
        shown = flight.envelope.message
        recipient = flight.target.path
        if isinstance(shown, TimerFired):
            # The actor's own timer, not test code: show it as such.
            kind, shown = "timer", shown.message
        text = stable_repr(shown)
    if fault is not None:
        kind = type(fault).__name__.lower()
    timed = kind == "timer" or flight.kind == "timer"
    sender = "timer" if timed else _path(flight.sender)
    return Step(number, sender, recipient, kind, text, choice, candidates)
