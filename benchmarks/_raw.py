"""Helpers shared by the raw anyio baselines of the Savina scenarios, and their senders."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import TypeVar

import anyio
import anyio.lowlevel
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


async def send_round_robin(
    sends: Sequence[Callable[[int], object]], rounds: int, yield_rounds: int, done: anyio.Event
) -> float:
    """Send 0 .. rounds-1 to every receiver in turn, then wait for `done`; seconds taken.

    `sends` are the receivers' non-blocking sends (an actor's `tell`, a
    stream's `send_nowait`), so actorlib and its raw twin share the loop. The
    sender yields every `yield_rounds` rounds, so the receivers drain while
    it sends.
    """
    start = time.perf_counter()
    for i in range(rounds):
        for send in sends:
            send(i)
        if i % yield_rounds == yield_rounds - 1:
            await anyio.lowlevel.checkpoint()
    await done.wait()
    return time.perf_counter() - start
