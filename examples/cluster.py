"""Worker processes behind a pool: a CPU-bound map survives a worker killed halfway.

The system starts two worker processes, spreads a pool's workers over them,
and maps a CPU-bound function over a list through the pool. Halfway, one
worker process is killed with SIGKILL: the asks it was answering fail with
NodeLost and are asked again, the pool's supervisor restarts its lost
workers in a new process, and the result is still complete.

Run it with ``python examples/cluster.py`` (add ``--backend trio`` for trio).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
from typing import Any

import anyio

import actorlib
from actorlib import Actor, ActorRef, ActorSystem
from actorlib.patterns import Pool
from actorlib.remote import NodeLost, NodeSet, SocketTransport

ITEMS = 40


def collatz_steps(n: int) -> int:
    """A CPU-bound function: the total Collatz steps of every number up to *n*."""
    total = 0
    for start in range(1, n + 1):
        x = start
        while x != 1:
            x = 3 * x + 1 if x % 2 else x // 2
            total += 1
    return total


class BriefFormatter(logging.Formatter):
    """Log lines without tracebacks: the story, not the stack."""

    def formatException(self, ei: Any) -> str:
        return ""

    def formatStack(self, stack_info: str) -> str:
        return ""


class Cruncher(Actor):
    """Runs in a worker process; answers each number with its result and its pid."""

    async def receive(self, message: object) -> object:
        assert isinstance(message, int)
        return message, collatz_steps(2000 + message), os.getpid()


async def map_over_pool(
    pool: ActorRef[Any], items: list[int], killer: anyio.Event
) -> dict[int, int]:
    """Ask the pool for every item, 8 at a time; ask again what a lost worker dropped."""
    results: dict[int, int] = {}
    retried = 0
    limiter = anyio.Semaphore(8)

    async def one(item: int) -> None:
        nonlocal retried
        async with limiter:
            while True:
                try:
                    _, value, _ = await pool.ask(item, timeout=60)
                    break
                except NodeLost:
                    retried += 1
            results[item] = value
            if len(results) == len(items) // 2:
                killer.set()  # halfway

    async with anyio.create_task_group() as group:
        for item in items:
            group.start_soon(one, item)
    print(f"asked again after the kill: {retried} item(s)")
    return results


async def main() -> None:
    transport = SocketTransport()
    async with ActorSystem("cluster", transport=transport) as system:
        # system.start_nodes(2) does the same; the transport's own method is
        # typed with WorkerNode, whose pid this example shows (and kills).
        nodes = await transport.start_nodes(2)
        print(f"started {len(nodes)} worker processes: pids {[node.pid for node in nodes]}")
        pool = await system.spawn(Pool, Cruncher, 4, worker_node=NodeSet(nodes), name="pool")
        halfway = anyio.Event()

        async def kill_one_worker() -> None:
            await halfway.wait()
            victim = nodes[0]
            print(f"halfway: killing worker process {victim.pid} with SIGKILL")
            assert victim.pid is not None
            os.kill(victim.pid, signal.SIGKILL)

        async with anyio.create_task_group() as group:
            group.start_soon(kill_one_worker)
            results = await map_over_pool(pool, list(range(ITEMS)), halfway)
        expected = {item: collatz_steps(2000 + item) for item in range(ITEMS)}
        print(f"results: {len(results)} of {ITEMS}, all correct: {results == expected}")
        pids = {pid for _, _, pid in [await pool.ask(i) for i in range(8)]}
        print(f"worker processes now: {sorted(pids)}, the killed one replaced by a new one")
        print(system.tree())
        assert results == expected
    print("done")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backend", choices=["asyncio", "trio"], default="asyncio")
    arguments = parser.parse_args()
    # The supervisor logs the restarts (one line each, without the traceback).
    handler = logging.StreamHandler()
    handler.setFormatter(BriefFormatter("log: %(message)s"))
    logging.basicConfig(level=logging.ERROR, handlers=[handler])
    actorlib.run(main, backend=arguments.backend)
