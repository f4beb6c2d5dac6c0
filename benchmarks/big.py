"""Big scenario (Savina): many actors each ping random others, every ping answered by a pong."""

from __future__ import annotations

import math
import random
import time

import anyio
import anyio.lowlevel
import attrs
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from actorlib import Actor, ActorRef, ActorSystem
from benchmarks._raw import drain
from benchmarks._scenario import Scenario
from benchmarks.peers import savina_peers

ACTORS = 100
SEED = 2024


def pings_per_actor(size: int) -> int:
    """Pings per actor: `size` counts messages, a ping and its pong each."""
    return max(1, size // (2 * ACTORS))


def _describe(size: int) -> str:
    pings = pings_per_actor(size)
    return (
        f"{ACTORS} actors x {pings:,} pings to random others (seeded), one at a time, "
        f"each answered by a pong: {2 * ACTORS * pings:,} msgs"
    )


@attrs.frozen
class _Neighbours:
    """Tells a node every node (itself included) it may ping."""

    nodes: tuple[ActorRef[object], ...]


@attrs.frozen
class _Ping:
    pass


@attrs.frozen
class _Pong:
    pass


_PING = _Ping()
_PONG = _Pong()


class _Sink(Actor):
    """Counts the nodes that have finished; sets `done` when all have."""

    def __init__(self, done: anyio.Event) -> None:
        self.done = done
        self.finished = 0

    async def receive(self, message: object) -> object:
        self.finished += 1
        if self.finished == ACTORS:
            self.done.set()
        return None


class _Node(Actor):
    """Pings a random node, waits for its pong, and again, `pings` times; answers every ping."""

    def __init__(self, index: int, pings: int, sink: ActorRef[object]) -> None:
        self.rng = random.Random(SEED + index)
        self.pings = pings
        self.sink = sink
        self.sent = 0
        self.nodes: tuple[ActorRef[object], ...] = ()

    def _ping_next(self) -> None:
        if self.sent == self.pings:
            self.sink.tell(None)
            return
        self.sent += 1
        self.nodes[self.rng.randrange(ACTORS)].tell(_PING)

    async def receive(self, message: object) -> object:
        if message is _PING:
            sender = self.context.sender
            assert sender is not None
            sender.tell(_PONG)
        elif message is _PONG:
            self._ping_next()
        elif isinstance(message, _Neighbours):
            self.nodes = message.nodes
        elif message == "start":
            self._ping_next()
        return None


async def actorlib_big(size: int) -> float:
    """`ACTORS` actors ping random others and pong back; seconds until all have done their pings."""
    pings = pings_per_actor(size)
    done = anyio.Event()
    async with ActorSystem("bench-big") as system:
        sink = await system.spawn(_Sink, done)
        nodes = tuple([await system.spawn(_Node, i, pings, sink) for i in range(ACTORS)])
        for node in nodes:
            await node.ask(_Neighbours(nodes))  # ask: every node knows the others before the start
        start = time.perf_counter()
        for node in nodes:
            node.tell("start")
        await done.wait()
        elapsed = time.perf_counter() - start
    return elapsed * size / (2 * ACTORS * pings)


#: A raw message: the pinging node's index, `_RAW_PONG`, or `_RAW_START` (the start).
_RAW_PONG = -1
_RAW_START = -2


async def _raw_node(
    index: int,
    pings: int,
    inbox: MemoryObjectReceiveStream[int],
    nodes: list[MemoryObjectSendStream[int]],
    finished: MemoryObjectSendStream[None],
) -> None:
    rng = random.Random(SEED + index)
    sent = 0
    async for message in drain(inbox):
        if message >= 0:
            nodes[message].send_nowait(_RAW_PONG)
        elif sent == pings:
            finished.send_nowait(None)
            # stays to answer pings until the streams close
        else:
            sent += 1
            nodes[rng.randrange(ACTORS)].send_nowait(index)


async def raw_big(size: int) -> float:
    """`ACTORS` tasks, each with its own stream; a ping carries the sender's index for the pong."""
    pings = pings_per_actor(size)
    streams = [anyio.create_memory_object_stream[int](math.inf) for _ in range(ACTORS)]
    senders = [sender for sender, _ in streams]
    to_sink, finished = anyio.create_memory_object_stream[None](math.inf)
    async with anyio.create_task_group() as tg:
        for index, (_, inbox) in enumerate(streams):
            tg.start_soon(_raw_node, index, pings, inbox, senders, to_sink)
        await anyio.lowlevel.checkpoint()  # started before the clock, as the actors are
        start = time.perf_counter()
        for sender in senders:
            sender.send_nowait(_RAW_START)
        for _ in range(ACTORS):
            await finished.receive()
        elapsed = time.perf_counter() - start
        for sender in senders:
            sender.close()
    return elapsed * size / (2 * ACTORS * pings)


SCENARIOS = (
    Scenario(
        name="big",
        unit="msgs/s",
        size=80_000,
        describe=_describe,
        actorlib=actorlib_big,
        raw=raw_big,
        target=None,
        peers=savina_peers("big"),
    ),
)
