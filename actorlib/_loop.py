"""The message loop of a cell: a batch of messages through its handler, answers, failures.

A dispatcher worker calls `run` for a cell it took off the ready queue. The
state transitions that messages trigger live in _lifecycle, and system
messages are interpreted in _system_messages; this module is the path of a
user message from the mailbox to the handler and of its answer back.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, cast

from . import _lifecycle as lifecycle
from . import _system_messages as system_messages
from ._deadletters import brief
from ._lifecycle import State
from ._messages import (
    Envelope,
    Failure,
    InjectedFailure,
    Item,
    PoisonPill,
    ReplySlot,
    TimerFired,
    as_envelope,
)
from ._ref import current_sender

if TYPE_CHECKING:
    from ._cell import Cell

logger = logging.getLogger("actorlib")

# Messages the loop must look at before the handler does (the slow path).
SPECIAL = frozenset({TimerFired, PoisonPill, InjectedFailure})


async def run(cell: Cell, budget: int) -> int:
    """Run a batch: creation, system messages first, then up to *budget* user messages."""
    token = current_sender.set(cell.ref)
    mailbox = cell.mailbox
    handled = 0
    try:
        while True:
            state = cell.state
            if state is State.STARTING:
                # Creation comes first, as if it were the first system
                # message: a stop sent right after spawn still sees
                # on_start, then on_stop.
                await lifecycle.start(cell)
            elif mailbox.system is not None:
                await system_messages.handle(cell, mailbox.pop_system())
            elif state is State.RUNNING:
                user = mailbox.user
                if handled >= budget or not user:
                    break
                handled += 1
                item = user.popleft()
                if mailbox.room_waiters:
                    mailbox.room_freed()
                if type(item) is not tuple or type(item[0]) in SPECIAL:
                    await invoke(cell, as_envelope(item))
                    continue
                # The hot path, a plain tell: invoke() without its branches.
                message = item[0]
                cell.current = item
                handler = cell.handler
                assert handler is not None
                try:
                    result = await handler(message)
                except Exception as error:
                    failed(cell, item, message, error)
                else:
                    if cell.current is item:  # not stashed
                        cell.current = None
                    if result is not None and type(result) is Failure:
                        _refuse(cell, None, message, result.error)
            else:
                break
    finally:
        current_sender.reset(token)
        cell.handled += handled
    if mailbox.system is not None or (cell.state is State.RUNNING and mailbox.user):
        cell.system.dispatcher.requeue(cell)
    else:
        cell.scheduled = False
    return handled


async def invoke(cell: Cell, envelope: Envelope) -> None:
    """Handle one user envelope (special messages included) and answer its ask."""
    message = envelope.message
    kind = type(message)
    if kind is TimerFired:
        fired = cast(TimerFired, message)
        if cell.timers is None or not cell.timers.claim(fired):
            return  # cancelled after it fired: by promise, never delivered
        message = fired.message
    elif kind is PoisonPill:
        if envelope.reply is not None:
            cell.system.delivery.reply(envelope.reply, None, None)
        await lifecycle.begin_stop(cell, None)
        return
    cell.current = envelope
    handler = cell.handler
    assert handler is not None
    try:
        if kind is InjectedFailure:
            injected = cast(InjectedFailure, message)
            message = injected.message  # the note names the real message
            raise injected.error
        result = await handler(message)
    except Exception as error:
        failed(cell, envelope, message, error)
        return
    settle(cell, envelope, message, result)


def settle(cell: Cell, envelope: Envelope, message: object, result: object) -> None:
    """The handler returned *result*: answer the ask, unless it stashed or forwarded it."""
    if cell.current is envelope:
        cell.current = None
        if result is not None and type(result) is Failure:
            _refuse(cell, envelope, message, result.error)
        elif envelope.reply is not None:
            _answer(cell, envelope.reply, result, None)


def _refuse(cell: Cell, envelope: Envelope | None, message: object, error: BaseException) -> None:
    """The handler returned a Failure: the asker gets the error; the actor carries on."""
    error.add_note(f"refused by actor {cell.path} for {_short(message)}")
    if envelope is not None and envelope.reply is not None:
        _answer(cell, envelope.reply, None, error)
    else:
        logger.warning(
            "actor %s refused %s, with no asker to tell: %r", cell.path, _short(message), error
        )


def failed(cell: Cell, item: Item, message: object, error: Exception) -> None:
    """The handler raised: answer the asker, and suspend for the parent's directive."""
    if _stashed_itself(cell, item):
        # It stashed itself, then failed: a failing message is not retried.
        assert cell.stash is not None
        cell.stash.pop()
    cell.current = None
    error.add_note(f"raised by actor {cell.path} while handling {_short(message)}")
    if type(item) is Envelope and item.reply is not None:
        _answer(cell, item.reply, None, error)
    lifecycle.fail(cell, error)


def _stashed_itself(cell: Cell, item: Item) -> bool:
    stash = cell.stash
    return cell.current is not item and stash is not None and bool(stash) and stash[-1] is item


def _answer(cell: Cell, slot: ReplySlot, value: object, error: BaseException | None) -> None:
    if not cell.system.delivery.reply(slot, value, error) and error is None:
        # The asker gave up (timeout, cancellation): the reply is a dead letter.
        cell.system.dead_letter(value, None, cell.ref)


def _short(message: object) -> str:
    return brief(message)  # bounded: the message may be huge, or a peer's
