"""Whether a handler can ever suspend, read from its bytecode; knows nothing about actors.

A coroutine frame can give control back to the event loop only at a
``YIELD_VALUE`` instruction: every ``await``, ``async with`` and ``async for``
compiles to one (behind ``SEND``). An ``async def`` whose own code holds none
runs from its first step to its return without letting any other task run, so
the runtime may run it wherever it likes (see `Cell.post_ask`). Nested
functions and lambdas are separate code objects; they do not run as part of
this frame's awaits, so they do not count.
"""

from __future__ import annotations

import dis
import inspect
from types import CodeType
from weakref import WeakKeyDictionary

# Opcodes of a frame that suspends or hands an awaitable to the loop.
# YIELD_VALUE alone would do; the others guard against a future compiler
# lowering an await differently.
_SUSPENDING = frozenset({"YIELD_VALUE", "SEND", "GET_AWAITABLE", "GET_ANEXT", "BEFORE_ASYNC_WITH"})

# Code objects live as long as their functions; a weak map keeps a become()
# lambda from being held for ever.
_verdicts: WeakKeyDictionary[CodeType, bool] = WeakKeyDictionary()


def never_suspends(handler: object) -> bool:
    """True if *handler* is an ``async def`` (function or bound method) with no await in it.

    False for anything else, including awaitable-returning callables and
    objects with an async ``__call__``: those may suspend, as far as we can tell.
    """
    code = getattr(handler, "__code__", None)
    if type(code) is not CodeType or not code.co_flags & inspect.CO_COROUTINE:
        return False
    verdict = _verdicts.get(code)
    if verdict is None:
        verdict = not any(op.opname in _SUSPENDING for op in dis.get_instructions(code))
        _verdicts[code] = verdict
    return verdict
