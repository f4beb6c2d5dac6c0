"""A flood of connections that exhausts a node's descriptors: the node keeps listening.

The node runs in a process of its own (tests/integration/flooded_node.py) with
RLIMIT_NOFILE lowered to 64, so this test process is never starved itself.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import anyio.abc
import pytest

from actorlib import ActorSystem
from actorlib.remote import SocketTransport
from actorlib.remote._auth import secret_to_env
from actorlib.remote._socket import parse_address

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parent.parent.parent
SECRET = b"flood-secret-0123456789abcdef"
# Descriptors the node may hold; the flood opens more connections than that.
NOFILE = 64
FLOOD = 3 * NOFILE


class NodeProcess:
    """The flooded node: its address, and its log (stderr) as it comes."""

    def __init__(self, process: anyio.abc.Process, address: str) -> None:
        self.process = process
        self.address = address
        self.log = ""
        self._changed = anyio.Event()

    async def read_log(self) -> None:
        assert self.process.stderr is not None
        async for chunk in self.process.stderr:
            self.log += chunk.decode(errors="replace")
            self._changed.set()
            self._changed = anyio.Event()

    async def wait_for(self, text: str) -> None:
        with anyio.fail_after(20):
            while text not in self.log:
                await self._changed.wait()


@asynccontextmanager
async def flooded_node(backend: str) -> AsyncIterator[NodeProcess]:
    """The node process on *backend*; no handshake limit or timeout gets in the flood's way."""
    command = [sys.executable, "-m", "tests.integration.flooded_node", backend, str(NOFILE)]
    command += ["100000", "60"]  # max_handshakes, handshake_timeout
    env = {**os.environ, "ACTORLIB_SECRET": secret_to_env(SECRET), "PYTHONPATH": str(ROOT)}
    process = await anyio.open_process(command, env=env, cwd=ROOT, stdin=subprocess.DEVNULL)
    try:
        assert process.stdout is not None
        with anyio.fail_after(30):
            line = await process.stdout.receive()
        node = NodeProcess(process, line.decode().strip())
        async with anyio.create_task_group() as group:
            group.start_soon(node.read_log)
            yield node
            group.cancel_scope.cancel()
    finally:
        process.send_signal(signal.SIGTERM)
        with anyio.fail_after(10):
            await process.wait()
        await process.aclose()


async def test_a_flood_that_exhausts_descriptors_does_not_stop_the_listener(
    anyio_backend: str,
) -> None:
    async with flooded_node(anyio_backend) as node:
        _, host, port = parse_address(node.address)
        client = SocketTransport(secret=SECRET)
        async with ActorSystem("client", transport=client):
            echo = await (await client.connect(node.address)).lookup("echo")
            assert echo is not None
            flood: list[anyio.abc.SocketStream] = []
            try:
                for _ in range(FLOOD):  # the kernel completes them; the node cannot accept all
                    flood.append(await anyio.connect_tcp(host, port))
                await node.wait_for("cannot accept connections: Too many open files")
                assert await echo.ask("during the flood") == "during the flood"
            finally:
                # The newest first: those still in the node's backlog. Closing
                # the ones it accepted first would free descriptors while live
                # connections wait in its backlog; a node quicker than this
                # (loaded) process accepts them, runs out again and logs a
                # second flood. Newest first, the flood ends once for the node.
                for stream in reversed(flood):
                    await stream.aclose()
            await node.wait_for("accepts connections again")

        late = SocketTransport(secret=SECRET)
        async with ActorSystem("late", transport=late):
            echo = await (await late.connect(node.address)).lookup("echo")
            assert echo is not None
            assert await echo.ask("after the flood") == "after the flood"
    assert node.log.count("cannot accept connections") == 1, node.log
    assert "Traceback" not in node.log, node.log
    assert "stopped listening" not in node.log, node.log
