"""actorlib: actors for Python on anyio (asyncio and trio).

Subclass `Actor`, start an `ActorSystem`, and talk to actors through their
`ActorRef` with `tell`, `send` and `ask`. Parents supervise their children
with `OneForOne`, `OneForAll` or `RestForOne` strategies.
"""

from __future__ import annotations

from ._actor import Actor
from ._clock import Clock, MonotonicClock
from ._context import ActorContext
from ._dispatch import DispatcherStatistics
from ._errors import (
    ActorError,
    ActorStopped,
    AskCycleError,
    AskTimeout,
    MailboxFull,
    NameTaken,
    SystemClosedError,
)
from ._events import EventStream
from ._mailbox import Mailbox, Overflow
from ._messages import DeadLetter, Failure, PoisonPill, Request, Terminated
from ._ref import ActorRef
from ._registry import ActorClassStatistics, ActorStatistics
from ._run import run
from ._supervision import (
    Backoff,
    Directive,
    OneForAll,
    OneForOne,
    RestForOne,
    SupervisorStrategy,
)
from ._system import ActorSystem, SystemStatistics
from ._timers import Timers

__version__ = "0.1.0"

__all__ = [
    "Actor",
    "ActorClassStatistics",
    "ActorContext",
    "ActorError",
    "ActorRef",
    "ActorStatistics",
    "ActorStopped",
    "ActorSystem",
    "AskCycleError",
    "AskTimeout",
    "Backoff",
    "Clock",
    "DeadLetter",
    "Directive",
    "DispatcherStatistics",
    "EventStream",
    "Failure",
    "Mailbox",
    "MailboxFull",
    "MonotonicClock",
    "NameTaken",
    "OneForAll",
    "OneForOne",
    "Overflow",
    "PoisonPill",
    "Request",
    "RestForOne",
    "SupervisorStrategy",
    "SystemClosedError",
    "SystemStatistics",
    "Terminated",
    "Timers",
    "run",
]
