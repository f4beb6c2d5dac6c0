"""Worker processes on this machine: started, watched, restarted and stopped by the system."""

from __future__ import annotations

import functools
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from typing import TYPE_CHECKING

import anyio
import anyio.abc

from ._auth import secret_to_env
from ._hosts import RemoteHostBase

if TYPE_CHECKING:
    from ._link import Link
    from ._node import Node

logger = logging.getLogger("actorlib.remote")

SECRET_ENV = "ACTORLIB_WORKER_SECRET"
# How long `spawn(..., node=worker)` waits for a (re)starting worker to link.
READY_TIMEOUT = 30.0
STOP_TIMEOUT = 5.0
# Both bound real OS processes (an interpreter starting, a process exiting),
# which take real time whatever the system's clock says: they read the event
# loop's clock, not the Clock seam. On a virtual clock that no one advances
# they would never expire, and one that jumps ahead would kill a worker that
# is still starting. So do the NATS client's connection bounds (_nats_connect);
# everything else in actorlib.remote reads the Clock seam.


class WorkerNode(RemoteHostBase):
    """A worker process that the system started: a placement for ``spawn(..., node=...)``.

    When its process dies, the actors on it are lost (their stand-ins fail
    with `NodeLost`) and the pool starts a new process under a new node id,
    where a supervisor's RESTART recreates them.

    Attributes:
        index: its position in the pool.
        node_id: the node id of its current process.
        starts: how many processes it has started so far.
    """

    def __init__(self, pool: WorkerPool, index: int) -> None:
        self.pool = pool
        self.node = pool.node
        self.index = index
        self.node_id = ""
        self.starts = 0
        self.process: anyio.abc.Process | None = None
        self._changed = anyio.Event()

    def __repr__(self) -> str:
        return f"<WorkerNode {self.index} {self.node_id or 'starting'}>"

    @property
    def pid(self) -> int | None:
        """The process id of its current process (None between processes)."""
        return None if self.process is None else self.process.pid

    async def link(self) -> Link:
        """The link to the current process, waiting for a (re)start to finish.

        Raises:
            TimeoutError: no process linked within 30 s.
        """
        with anyio.fail_after(READY_TIMEOUT):
            while True:
                link = self.node.links.get(self.node_id) if self.node_id else None
                if link is not None and not link.closed:
                    return link
                await self._changed.wait()

    def _announce(self) -> None:
        changed, self._changed = self._changed, anyio.Event()
        changed.set()

    async def run(self) -> None:
        """Start the process, wait for it, start it again, until the pool stops."""
        while not self.pool.stopping:
            self.starts += 1
            self.node_id = f"{self.node.node_id}.w{self.index}.{self.starts}"
            try:
                await self._run_once()
            except Exception:
                logger.exception("worker %d failed to start", self.index)
                if not self.pool.stopping:
                    await self.pool.pause()
            if not self.pool.stopping:
                logger.warning(
                    "worker process %d (node %s) exited; starting a new one",
                    self.index,
                    self.node_id,
                )

    async def _run_once(self) -> None:
        pool = self.pool
        command = [
            sys.executable,
            "-m",
            "actorlib.remote",
            "worker",
            "--connect",
            pool.parent_address,
            "--listen",
            f"unix:{os.path.join(pool.tempdir, f'w{self.index}.{self.starts}.sock')}",
            "--node-id",
            self.node_id,
            "--secret-env",
            SECRET_ENV,
        ]
        async with await anyio.open_process(
            command, env=pool.env, stdin=subprocess.DEVNULL, stdout=None, stderr=None
        ) as process:
            self.process = process
            waiting = anyio.create_task_group()
            async with waiting:
                waiting.start_soon(self._announce_when_linked)
                await process.wait()
                waiting.cancel_scope.cancel()
            self.process = None
        self._announce()

    async def _announce_when_linked(self) -> None:
        await self.node.wait_for_peer(self.node_id)
        self._announce()

    async def stop(self) -> None:
        """Ask the process to exit (its parent link closes), then kill it if it lingers."""
        link = self.node.links.get(self.node_id)
        if link is not None:
            link.close()
        process = self.process
        if process is not None:
            with anyio.move_on_after(STOP_TIMEOUT) as scope:
                await process.wait()
            if scope.cancelled_caught:
                logger.warning("worker process %d did not exit; killing it", self.index)
                process.kill()


class WorkerPool:
    """The worker processes of one node, each supervised by its own task."""

    def __init__(self, node: Node, parent_address: str) -> None:
        self.node = node
        self.parent_address = parent_address
        self.workers: list[WorkerNode] = []
        self.stopping = False
        self.tempdir = tempfile.mkdtemp(prefix="actorlib-workers-")
        self.env = dict(os.environ)
        self.env[SECRET_ENV] = secret_to_env(node.secret)
        # Workers import what the parent imports (classes pickled by reference).
        self.env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
        self._done = anyio.Event()
        self._running = 0

    async def start(self, count: int) -> Sequence[WorkerNode]:
        """Start *count* more workers and wait until each has linked.

        Raises:
            TimeoutError: a worker did not link within 30 s.
        """
        new = [WorkerNode(self, len(self.workers) + i) for i in range(count)]
        self.workers.extend(new)
        for worker in new:
            self._running += 1
            self.node.system._start_runtime_task(functools.partial(self._supervise, worker))
        for worker in new:
            await worker.link()
        return new

    async def _supervise(self, worker: WorkerNode) -> None:
        try:
            await worker.run()
        finally:
            self._running -= 1
            if not self._running:
                self._done.set()

    async def pause(self) -> None:
        """A short pause before starting a worker that failed to start."""
        clock = self.node.system.clock
        await clock.sleep_until(clock.now() + 0.5)

    async def stop(self) -> None:
        """Stop every worker process (gracefully, then by force)."""
        self.stopping = True
        async with anyio.create_task_group() as group:
            for worker in self.workers:
                group.start_soon(worker.stop)
        if self._running:
            with anyio.move_on_after(STOP_TIMEOUT):
                await self._done.wait()
        shutil.rmtree(self.tempdir, ignore_errors=True)
