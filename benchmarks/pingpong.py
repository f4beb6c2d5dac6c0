"""Ping-pong scenarios: one message each way per round trip, with `tell` and with `ask`."""

from __future__ import annotations

import math
import time

import anyio
import attrs
from anyio.streams.memory import MemoryObjectReceiveStream

from actorlib import Actor, ActorRef, ActorSystem
from benchmarks._scenario import FIVE_TIMES, Peer, RatioAtLeast, Scenario
from benchmarks.peers import peers

# Tell


class _Ping(Actor):
    """Sends the round-trip count to `pong` until it reaches `round_trips`."""

    def __init__(self, pong: ActorRef[int], round_trips: int, done: anyio.Event) -> None:
        self.pong = pong
        self.round_trips = round_trips
        self.done = done

    async def receive(self, message: object) -> object:
        assert isinstance(message, int)
        if message >= self.round_trips:
            self.done.set()
        else:
            self.pong.tell(message + 1)
        return None


class _Pong(Actor):
    """Returns every message to whoever sent it."""

    async def receive(self, message: object) -> object:
        sender = self.context.sender
        assert sender is not None
        sender.tell(message)
        return None


async def actorlib_tell(round_trips: int) -> float:
    """Two actors bounce a counter with `tell`; seconds for `round_trips` round trips."""
    done = anyio.Event()
    async with ActorSystem("bench-pingpong") as system:
        pong = await system.spawn(_Pong)
        ping = await system.spawn(_Ping, pong, round_trips, done)
        start = time.perf_counter()
        ping.tell(0)
        await done.wait()
        return time.perf_counter() - start


async def raw_tell(round_trips: int) -> float:
    """Two tasks bounce a counter over two memory object streams.

    `send_nowait` into an unbounded stream is the raw twin of `tell` (never
    blocks) and the fastest raw form: `await send()` adds a checkpoint per
    message and runs at about a quarter of the speed.
    """
    done = anyio.Event()
    to_ping, ping_inbox = anyio.create_memory_object_stream[int](math.inf)
    to_pong, pong_inbox = anyio.create_memory_object_stream[int](math.inf)

    async def ping() -> None:
        async for count in ping_inbox:
            if count >= round_trips:
                done.set()
                return
            to_pong.send_nowait(count + 1)

    async def pong() -> None:
        async for count in pong_inbox:
            to_ping.send_nowait(count)

    async with anyio.create_task_group() as tg:
        tg.start_soon(ping)
        tg.start_soon(pong)
        start = time.perf_counter()
        to_ping.send_nowait(0)
        await done.wait()
        elapsed = time.perf_counter() - start
        to_pong.close()
    return elapsed


# Ask


class _Echo(Actor):
    """Answers every ask with the message itself."""

    async def receive(self, message: object) -> object:
        return message


async def actorlib_ask(requests: int) -> float:
    """The benchmark task asks an echo actor `requests` times, one at a time."""
    async with ActorSystem("bench-ask") as system:
        echo = await system.spawn(_Echo)
        start = time.perf_counter()
        for i in range(requests):
            await echo.ask(i)
        return time.perf_counter() - start


async def _nothing() -> None:
    return None


class _AwaitingEcho(Actor):
    """`_Echo` behind an await that never suspends: its asks go through the mailbox."""

    async def receive(self, message: object) -> object:
        await _nothing()
        return message


async def actorlib_ask_through_mailbox(requests: int) -> float:
    """As `actorlib_ask`, but every ask is queued and run by a dispatcher worker.

    `_Echo` has no await, so its asks are answered in the asking task (a direct
    ask); a handler that awaits cannot be, and this row is what it costs.
    """
    async with ActorSystem("bench-ask-mailbox") as system:
        echo = await system.spawn(_AwaitingEcho)
        start = time.perf_counter()
        for i in range(requests):
            await echo.ask(i)
        return time.perf_counter() - start


@attrs.define
class _ReplySlot:
    """Where the server puts one answer; the asker waits on `ready`."""

    ready: anyio.Event = attrs.Factory(anyio.Event)
    value: int = 0


async def raw_ask(requests: int) -> float:
    """A client awaits each reply from a server task reading (request, slot) pairs.

    Per request, an `anyio.Event` plus a value slot is the fastest idiomatic
    request/reply (about 2.5x a one-shot reply stream, which costs a stream pair
    and checkpoints on both ends); the request goes in with `send_nowait`.
    """
    to_server, server_inbox = anyio.create_memory_object_stream[tuple[int, _ReplySlot]](math.inf)

    async def serve(inbox: MemoryObjectReceiveStream[tuple[int, _ReplySlot]]) -> None:
        async for request, slot in inbox:
            slot.value = request
            slot.ready.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(serve, server_inbox)
        start = time.perf_counter()
        for i in range(requests):
            slot = _ReplySlot()
            to_server.send_nowait((i, slot))
            await slot.ready.wait()
        elapsed = time.perf_counter() - start
        to_server.close()
    return elapsed


SCENARIOS = (
    Scenario(
        name="pingpong-tell",
        unit="round trips/s",
        size=20_000,
        describe=lambda size: f"2 actors, {size:,} round trips with tell",
        actorlib=actorlib_tell,
        raw=raw_tell,
        target=RatioAtLeast(0.8),
        peer_targets=FIVE_TIMES,
        peers=peers("tell", multiprocess=True),
    ),
    Scenario(
        name="pingpong-ask",
        unit="round trips/s",
        size=30_000,
        describe=lambda size: f"1 task asks 1 actor {size:,} times in turn",
        actorlib=actorlib_ask,
        raw=raw_ask,
        target=RatioAtLeast(0.8),
        peer_targets=FIVE_TIMES,
        peers={
            "actorlib-mailbox": Peer(
                "benchmarks.pingpong", "actorlib_ask_through_mailbox", install=""
            ),
            **peers("ask", multiprocess=True),
        },
    ),
)
