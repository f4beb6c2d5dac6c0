"""Ring scenario: a token passed hop by hop around a ring of actors."""

from __future__ import annotations

import math
import time

import anyio
import anyio.lowlevel
import attrs
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from actorlib import Actor, ActorRef, ActorSystem
from benchmarks._scenario import FIVE_TIMES, RatioAtLeast, Scenario
from benchmarks.peers import peers

RING_SIZE = 1000


@attrs.frozen
class _Link:
    """Tells a ring node which actor comes next."""

    next: ActorRef[object]


class _Node(Actor):
    """Passes the token (its hop count) to the next node until `hops` is reached."""

    def __init__(self, hops: int, done: anyio.Event) -> None:
        self.hops = hops
        self.done = done
        self.next: ActorRef[object] | None = None

    async def receive(self, message: object) -> object:
        if isinstance(message, int):
            if message >= self.hops:
                self.done.set()
            else:
                assert self.next is not None
                self.next.tell(message + 1)
        elif isinstance(message, _Link):
            self.next = message.next
        return None


async def actorlib_ring(hops: int) -> float:
    """`RING_SIZE` actors, each knowing the next; seconds for the token to make `hops` hops."""
    done = anyio.Event()
    async with ActorSystem("bench-ring") as system:
        nodes = [await system.spawn(_Node, hops, done) for _ in range(RING_SIZE)]
        for node, successor in zip(nodes, nodes[1:] + nodes[:1], strict=True):
            # ask, not tell: every link is in place before the token starts.
            await node.ask(_Link(successor))
        start = time.perf_counter()
        nodes[0].tell(0)
        await done.wait()
        return time.perf_counter() - start


async def _raw_node(
    inbox: MemoryObjectReceiveStream[int],
    successor: MemoryObjectSendStream[int],
    hops: int,
    done: anyio.Event,
) -> None:
    async for hop in inbox:
        if hop >= hops:
            done.set()
        else:
            successor.send_nowait(hop + 1)


async def raw_ring(hops: int) -> float:
    """`RING_SIZE` tasks, each reading its own stream and `send_nowait`-ing to the next one's.

    This is the strongest raw ring on asyncio, so the fairest baseline: tasks
    started with `start_soon` sit in the loop's ready queue in ring order, each
    one resuming from the checkpoint in `receive()` just after its predecessor
    has sent, so the token goes a whole lap per loop iteration (about 500k
    hops/s here). Started with `await tg.start()` instead, each node blocks on
    its stream first and every hop then costs a wake-up through the loop (about
    80k hops/s on asyncio, as on trio, where the two ways do not differ).
    """
    done = anyio.Event()
    streams = [anyio.create_memory_object_stream[int](math.inf) for _ in range(RING_SIZE)]
    senders = [sender for sender, _ in streams]
    async with anyio.create_task_group() as tg:
        for (_, inbox), successor in zip(streams, senders[1:] + senders[:1], strict=True):
            tg.start_soon(_raw_node, inbox, successor, hops, done)
        await anyio.lowlevel.checkpoint()  # every node runs up to its first receive()
        start = time.perf_counter()
        senders[0].send_nowait(0)
        await done.wait()
        elapsed = time.perf_counter() - start
        for sender in senders:
            sender.close()
    return elapsed


SCENARIOS = (
    Scenario(
        name="ring",
        unit="hops/s",
        size=40_000,
        describe=lambda size: f"{RING_SIZE:,} actors, {size:,} hops",
        actorlib=actorlib_ring,
        raw=raw_ring,
        target=RatioAtLeast(0.8),
        peer_targets=FIVE_TIMES,
        peers=peers("ring"),
    ),
)
