"""Helpers shared by the raw anyio baselines of the Savina scenarios."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TypeVar

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream

T = TypeVar("T")


async def drain(inbox: MemoryObjectReceiveStream[T]) -> AsyncIterator[T]:
    """Every message of `inbox` until it closes, taking what is queued without yielding.

    It waits with `receive()` only when the stream is empty, as fanin's raw
    drain does: `receive()` alone checkpoints on every message and caps at
    about 80k msgs/s, which would make the baseline a strawman.
    """
    while True:
        try:
            message = inbox.receive_nowait()
        except anyio.WouldBlock:
            try:
                message = await inbox.receive()
            except anyio.EndOfStream:
                return
        except anyio.EndOfStream:
            return
        yield message
