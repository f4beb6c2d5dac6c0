"""Chameneos scenario (Savina): a mall actor pairs up chameneos for a number of meetings."""

from __future__ import annotations

import math
import time

import anyio
import anyio.lowlevel
import attrs
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from actorlib import Actor, ActorRef, ActorSystem
from benchmarks._raw import drain
from benchmarks._scenario import Scenario
from benchmarks.peers import savina_peers

CHAMENEOS = 100
BLUE, RED, YELLOW = 0, 1, 2


def complement(mine: int, other: int) -> int:
    """The colour a chameneo takes after meeting one of colour `other`."""
    return mine if mine == other else 3 - mine - other


def _describe(size: int) -> str:
    return (
        f"{CHAMENEOS} chameneos, 1 mall pairing them for {size:,} meetings "
        "(4 msgs a meeting), then telling each to exit"
    )


@attrs.frozen
class _Meet:
    """To the mall: a chameneo wants to meet; from the mall: here is your partner."""

    chameneo: ActorRef[object]
    colour: int


@attrs.frozen
class _Change:
    """From the first chameneo of a pair to the second: take this colour."""

    colour: int


@attrs.frozen
class _Exit:
    pass


_EXIT = _Exit()


class _Mall(Actor):
    """Holds one waiting chameneo; pairs it with the next, until `meetings` are done."""

    def __init__(self, meetings: int, done: anyio.Event) -> None:
        self.meetings = meetings
        self.done = done
        self.met = 0
        self.exited = 0
        self.waiting: _Meet | None = None

    async def receive(self, message: object) -> object:
        if isinstance(message, _Meet):
            if self.met == self.meetings:
                message.chameneo.tell(_EXIT)
                self.exited += 1
                if self.exited == CHAMENEOS:
                    self.done.set()
            elif self.waiting is None:
                self.waiting = message
            else:
                self.met += 1
                self.waiting.chameneo.tell(message)
                self.waiting = None
        return None


class _Chameneo(Actor):
    """Asks the mall for a meeting, changes colour with its partner, and asks again."""

    def __init__(self, mall: ActorRef[object], colour: int) -> None:
        self.mall = mall
        self.colour = colour

    async def receive(self, message: object) -> object:
        if isinstance(message, _Meet):  # we waited at the mall: we lead the meeting
            self.colour = complement(self.colour, message.colour)
            message.chameneo.tell(_Change(self.colour))
            self.mall.tell(_Meet(self.ref, self.colour))
        elif isinstance(message, _Change):
            self.colour = message.colour
            self.mall.tell(_Meet(self.ref, self.colour))
        elif message == "start":
            self.mall.tell(_Meet(self.ref, self.colour))
        return None


async def actorlib_chameneos(meetings: int) -> float:
    """Seconds for the mall to arrange `meetings` meetings and every chameneo to be told to exit."""
    done = anyio.Event()
    async with ActorSystem("bench-chameneos") as system:
        mall = await system.spawn(_Mall, meetings, done)
        chameneos = [await system.spawn(_Chameneo, mall, i % 3) for i in range(CHAMENEOS)]
        start = time.perf_counter()
        for chameneo in chameneos:
            chameneo.tell("start")
        await done.wait()
        return time.perf_counter() - start


#: Raw messages to a chameneo: (kind, partner index, colour).
_MEET, _CHANGE, _RAW_EXIT, _RAW_START = 0, 1, 2, 3


async def _raw_mall(
    meetings: int,
    inbox: MemoryObjectReceiveStream[tuple[int, int]],
    chameneos: list[MemoryObjectSendStream[tuple[int, int, int]]],
    done: anyio.Event,
) -> None:
    met = 0
    exited = 0
    waiting: tuple[int, int] | None = None
    async for index, colour in drain(inbox):
        if met == meetings:
            chameneos[index].send_nowait((_RAW_EXIT, 0, 0))
            exited += 1
            if exited == CHAMENEOS:
                done.set()
                return
        elif waiting is None:
            waiting = (index, colour)
        else:
            met += 1
            chameneos[waiting[0]].send_nowait((_MEET, index, colour))
            waiting = None


async def _raw_chameneo(
    index: int,
    colour: int,
    inbox: MemoryObjectReceiveStream[tuple[int, int, int]],
    mall: MemoryObjectSendStream[tuple[int, int]],
    chameneos: list[MemoryObjectSendStream[tuple[int, int, int]]],
) -> None:
    async for kind, partner, other in drain(inbox):
        if kind == _MEET:
            colour = complement(colour, other)
            chameneos[partner].send_nowait((_CHANGE, index, colour))
        elif kind == _CHANGE:
            colour = other
        elif kind == _RAW_EXIT:
            return
        mall.send_nowait((index, colour))  # after _RAW_START too


async def raw_chameneos(meetings: int) -> float:
    """A mall task and `CHAMENEOS` tasks, each with its own stream; messages carry indexes."""
    done = anyio.Event()
    to_mall, mall_inbox = anyio.create_memory_object_stream[tuple[int, int]](math.inf)
    streams = [
        anyio.create_memory_object_stream[tuple[int, int, int]](math.inf) for _ in range(CHAMENEOS)
    ]
    senders = [sender for sender, _ in streams]
    async with anyio.create_task_group() as tg:
        tg.start_soon(_raw_mall, meetings, mall_inbox, senders, done)
        for index, (_, inbox) in enumerate(streams):
            tg.start_soon(_raw_chameneo, index, index % 3, inbox, to_mall, senders)
        await anyio.lowlevel.checkpoint()  # started before the clock, as the actors are
        start = time.perf_counter()
        for sender in senders:
            sender.send_nowait((_RAW_START, 0, 0))
        await done.wait()
        elapsed = time.perf_counter() - start
    return elapsed  # noqa: RET504 (mypy: a task group may swallow the exception)


SCENARIOS = (
    Scenario(
        name="chameneos",
        unit="meetings/s",
        size=15_000,
        describe=_describe,
        actorlib=actorlib_chameneos,
        raw=raw_chameneos,
        target=None,
        peers=savina_peers("chameneos"),
    ),
)
