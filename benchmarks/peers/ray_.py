"""The cluster scenarios on Ray: named actors, the closest thing Ray has to entities.

Ray has no virtual actors. A named actor (``Actor.options(name=key,
get_if_exists=True)``) is found by its key from anywhere in the Ray cluster,
which is what an entity ref gives; it is not activated on demand, not
passivated, and its state does not survive its worker (Ray restarts it empty,
with ``max_restarts``). The actor class mirrors `benchmarks.cluster.Counter`,
and the variants send the same messages: ints told (fire-and-forget
``.remote()`` calls, whose results nobody reads) and then "count" asked;
ints asked one at a time (``ray.get`` per call).

Ray runs on this machine alone: ``ray.init`` starts a local Ray (a GCS, a
raylet, one worker process per actor) with `NUM_CPUS` CPUs and no
dashboard, once per benchmark process, shut down at exit. Starting it is not
timed. Every actor is its own OS process here, so activation and recovery
make at most `MAX_ACTORS` actors per run and report the median (a Ray actor
costs a process start, an entity a lease).
"""

from __future__ import annotations

import atexit
import os
import signal
import time
from typing import Any

import ray

from benchmarks._percentiles import percentile

#: CPUs Ray may schedule on (the machine has 2; the members share them).
NUM_CPUS = 2
#: Actors created per activation run: each is a worker process.
MAX_ACTORS = 20
#: Bound on every wait, so a lost call fails the run instead of hanging it.
WAIT_SECONDS = 120.0
#: How long recovery waits for one answer before it asks again.
POLL_SECONDS = 0.02
_started = False
_keys = 0
# The latencies of the last median run, by size, for its p99 twin.
_kept: dict[int, list[float]] = {}


@ray.remote(max_restarts=-1)
class Counter:
    """Counts what it is told; answers "count", "where" (its process id) as `Counter` does."""

    def __init__(self) -> None:
        self.count = 0

    def receive(self, message: object) -> object:
        if type(message) is int:
            self.count += 1
            return message
        if message == "count":
            return self.count
        if message == "where":
            return os.getpid()
        return None


def _start() -> None:
    global _started
    if not _started:
        # No dashboard, no log forwarding: the benchmark's table is the output.
        ray.init(
            num_cpus=NUM_CPUS,
            namespace="actorlib-benchmarks",
            include_dashboard=False,
            log_to_driver=False,
            configure_logging=False,
        )
        atexit.register(ray.shutdown)
        _started = True


def _new_key() -> str:
    global _keys
    _keys += 1
    return f"key-{os.getpid()}-{_keys}"


def _entity(key: str) -> Any:
    """The named actor for *key*: created if no actor has that name yet.

    Detached, as an entity outlives the refs to it: a named actor that is not
    dies with its creator's last handle. Every variant kills its own.
    """
    _start()
    options = Counter.options(  # type: ignore[attr-defined]
        name=key, get_if_exists=True, lifetime="detached"
    )
    return options.remote()


def _ask(actor: Any, message: object) -> object:
    return ray.get(actor.receive.remote(message), timeout=WAIT_SECONDS)


def _active() -> Any:
    """An active named actor, found again by its name as a sender elsewhere would."""
    key = _new_key()
    _ask(_entity(key), "where")
    return ray.get_actor(key, namespace="actorlib-benchmarks")


def tell(messages: int) -> float:
    """Seconds for *messages* fire-and-forget calls to one named actor (and an ask after them)."""
    actor = _active()
    try:
        start = time.perf_counter()
        for i in range(messages):
            actor.receive.remote(i)
        count = _ask(actor, "count")  # calls from one caller run in order
        elapsed = time.perf_counter() - start
    finally:
        ray.kill(actor, no_restart=True)
    if count != messages:
        raise RuntimeError(f"{count} of {messages} calls arrived")
    return elapsed


def _latencies(asks: int) -> list[float]:
    actor = _active()
    try:
        latencies = []
        for i in range(asks):
            start = time.perf_counter()
            _ask(actor, i)
            latencies.append(time.perf_counter() - start)
        return latencies
    finally:
        ray.kill(actor, no_restart=True)


def ask_p50(asks: int) -> float:
    """Median µs of ``ray.get`` on one call to a named actor, one at a time."""
    samples = _kept[asks] = _latencies(asks)
    return percentile(samples, 0.5) * 1e6


def ask_p99(asks: int) -> float:
    """p99 µs of the same (the last median run's samples, if there was one)."""
    samples = _kept.pop(asks, None) or _latencies(asks)
    return percentile(samples, 0.99) * 1e6


def activation(keys: int) -> float:
    """Median ms from creating a named actor for a new key to its first answer."""
    _start()
    latencies = []
    for _ in range(min(keys, MAX_ACTORS)):
        start = time.perf_counter()
        actor = _entity(_new_key())
        _ask(actor, "where")
        latencies.append(time.perf_counter() - start)
        ray.kill(actor, no_restart=True)
    return percentile(latencies, 0.5) * 1e3


def recovery(keys: int) -> float:
    """Seconds from the SIGKILL of a named actor's worker to the actor answering again.

    Ray restarts the actor (``max_restarts=-1``) in a new worker, without its
    state. One actor per run: a Ray worker holds one actor, where a member
    holds many entities.
    """
    actor = _entity(_new_key())
    try:
        pid = _ask(actor, "where")
        assert isinstance(pid, int)
        os.kill(pid, signal.SIGKILL)
        killed = time.perf_counter()
        deadline = killed + WAIT_SECONDS
        while True:  # polled every POLL_SECONDS, as the entity variant asks again at once
            try:
                if ray.get(actor.receive.remote("where"), timeout=POLL_SECONDS) != pid:
                    return time.perf_counter() - killed
            except ray.exceptions.RayError:
                if time.perf_counter() > deadline:
                    raise
    finally:
        ray.kill(actor, no_restart=True)
