"""The exception tree of actorlib; knows nothing about the runtime.

    ActorError                      base of every error the runtime raises
    ├── AskTimeout                  also a TimeoutError: no reply within the timeout
    ├── ActorStopped                the actor terminated before it could answer
    ├── AskCycleError               an ask from a handler would wait on its own asker
    ├── MailboxFull                 a bounded mailbox with Overflow.FAIL refused a tell
    ├── NameTaken                   also a ValueError: a sibling already has that name
    └── SystemClosedError           also a RuntimeError: the system was shut down

Every error is an attrs class whose message is built from its fields, so it
pickles intact across processes (notes included: ``slots=False`` keeps
``__dict__``, where ``add_note`` stores them).
"""

from __future__ import annotations

import attrs


@attrs.define(auto_exc=True, str=False, repr=False, slots=False)
class ActorError(Exception):
    """Base class of every error raised by actorlib itself."""

    reason: str = ""

    def __str__(self) -> str:
        return self.reason

    def __repr__(self) -> str:
        # The message says it all; attrs' field-by-field repr would show reason=''.
        return f"{type(self).__name__}({str(self)!r})"


@attrs.define(auto_exc=True, str=False, repr=False, slots=False)
class AskTimeout(ActorError, TimeoutError):
    """An ``ask`` got no reply within its timeout.

    Attributes:
        path: the path of the actor that was asked.
        message_type: the name of the message's type.
        timeout: the timeout in seconds.
    """

    path: str = ""
    message_type: str = ""
    timeout: float = 0.0

    def __str__(self) -> str:
        return (
            f"ask to {self.path} with a {self.message_type} message got no reply "
            f"within {self.timeout:g} s; raise the timeout (ask(..., timeout=...)) "
            f"or check that the actor answers"
        )


@attrs.define(auto_exc=True, str=False, repr=False, slots=False)
class ActorStopped(ActorError):
    """The actor was stopped (or stopped before handling the message).

    Attributes:
        path: the path of the stopped actor.
        message_type: the name of the type of the message that cannot be answered.
    """

    path: str = ""
    message_type: str = ""

    def __str__(self) -> str:
        return f"actor {self.path} is stopped and cannot answer a {self.message_type} message"


@attrs.define(auto_exc=True, str=False, repr=False, slots=False)
class AskCycleError(ActorError):
    """An ask from a handler would close a cycle of asks, so it fails at once.

    An actor handles one message at a time: while its handler awaits an ask,
    it answers nobody. An ask to an actor that is (directly, or through a
    chain of asks) waiting on the asker could only end by its timeout, so
    the runtime refuses it before sending it.

    Attributes:
        cycle: the paths of the actors in the cycle, in order, starting with
            the asker that closed it; each waits for a reply from the next,
            and the last one from the first. One path: an actor asked itself.
        forwarded: the paths in *cycle* that passed the ask on with
            ``context.forward`` (routers) rather than asking.
    """

    cycle: tuple[str, ...] = ()
    forwarded: tuple[str, ...] = ()

    def __str__(self) -> str:
        cycle = self.cycle
        if len(cycle) == 1:
            return (
                f"actor {cycle[0]} asks itself from its own handler: it cannot answer before "
                f"that handler returns, so the ask would only end by its timeout; call the "
                f"code directly, or use self.ref.tell(...) and handle the result as a message"
            )
        links = "; ".join(
            f"{path} {'forwarded the ask to' if path in self.forwarded else 'asks'} "
            f"{cycle[(i + 1) % len(cycle)]}"
            for i, path in enumerate(cycle)
        )
        return (
            f"ask cycle: {links}; each waits for the next, so none can answer and the ask "
            f"would only end by its timeout; answer one of them with a tell instead, or "
            f"ask from outside the cycle"
        )


@attrs.define(auto_exc=True, str=False, repr=False, slots=False)
class MailboxFull(ActorError):
    """A bounded mailbox with ``Overflow.FAIL`` refused a message.

    Attributes:
        path: the path of the actor whose mailbox is full.
        capacity: the mailbox's capacity.
    """

    path: str = ""
    capacity: int = 0

    def __str__(self) -> str:
        return (
            f"mailbox of {self.path} is full ({self.capacity} messages); use "
            f"`await ref.send(message)` to wait for room, or choose another Overflow policy"
        )


@attrs.define(auto_exc=True, str=False, repr=False, slots=False)
class NameTaken(ActorError, ValueError):
    """A sibling with the same name is already alive.

    Attributes:
        path: the full path that is taken.
    """

    path: str = ""

    def __str__(self) -> str:
        return (
            f"an actor named {self.path} already exists; choose another name, "
            f"or stop the existing actor first"
        )


@attrs.define(auto_exc=True, str=False, repr=False, slots=False)
class SystemClosedError(ActorError, RuntimeError):
    """The actor system is not running (not started yet, or shut down).

    Attributes:
        system: the system's name.
        operation: what was attempted.
    """

    system: str = ""
    operation: str = ""

    def __str__(self) -> str:
        return (
            f"cannot {self.operation}: actor system {self.system!r} is not running; "
            f"use it inside `async with ActorSystem(...) as system:`"
        )
