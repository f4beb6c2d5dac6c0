"""Ping-pong on Thespian's multiprocQueueBase: every actor in its own OS process.

The same actors as `benchmarks.peers.thespian_` (simpleSystemBase), on a
multiprocess base. Of Thespian's two documented multiprocess bases,
multiprocQueueBase (multiprocessing queues) measured about 2,000 round trips/s
here and multiprocTCPBase (sockets, and an admin process on a fixed port)
about 500-900, so this is the faster. Every message crosses processes, so one
round trip takes about half a millisecond: a run does at most `MAX_ROUND_TRIPS`
and its time is scaled to the scenario's size. Ping-pong keeps one message in
flight, so its rate does not depend on how many round trips a run makes.
"""

from __future__ import annotations

import time

from thespian.actors import ActorSystem

from benchmarks.peers.thespian_ import WAIT_SECONDS, _Echo, _Ping, _Pong

BASE = "multiprocQueueBase"
MAX_ROUND_TRIPS = 2_000


def tell(round_trips: int) -> float:
    """Two actors (two processes) bounce a counter with `send`."""
    done = min(round_trips, MAX_ROUND_TRIPS)
    system = ActorSystem(BASE)
    try:
        ping, pong = system.createActor(_Ping), system.createActor(_Pong)
        start = time.perf_counter()
        reply = system.ask(ping, (pong, done), WAIT_SECONDS)
        elapsed = time.perf_counter() - start
    finally:
        system.shutdown()
    if reply != done:
        raise RuntimeError(f"ping answered {reply!r}, expected {done}")
    return elapsed * round_trips / done


def ask(requests: int) -> float:
    """The caller asks an echo actor (another process) through the ActorSystem, in turn."""
    done = min(requests, MAX_ROUND_TRIPS)
    system = ActorSystem(BASE)
    try:
        echo = system.createActor(_Echo)
        start = time.perf_counter()
        for i in range(done):
            if system.ask(echo, i, WAIT_SECONDS) != i:
                raise RuntimeError(f"echo did not answer {i}")
        elapsed = time.perf_counter() - start
    finally:
        system.shutdown()
    return elapsed * requests / done
