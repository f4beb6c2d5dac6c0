"""Shared by the cluster tests: a nats-server with JetStream, member processes."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import anyio.abc
import pytest

from actorlib.cluster._jetstream import JetStreamKV
from tests.nats_server import NatsServer

SECRET = b"cluster-test-secret-0123456789"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def anyio_backend() -> str:
    """nats-py runs on asyncio only (a test of its own checks that trio is refused clearly)."""
    return "asyncio"


@pytest.fixture(scope="session")
def js_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    """One nats-server with JetStream for the session; each test uses its own cluster name."""
    server = NatsServer(tmp_path_factory.mktemp("nats-js"), jetstream=True)
    server.start()
    try:
        yield server
    finally:
        server.stop()


class MemberProcess:
    """A member in a process of its own (tests/cluster/member.py), read line by line."""

    def __init__(self, process: anyio.abc.Process) -> None:
        self.process = process
        assert process.stdout is not None
        self._lines = process.stdout
        self._buffer = b""
        self.node_id = ""
        self.history: list[str] = []

    async def line(self) -> str:
        """The next line it printed (10 s at most)."""
        with anyio.fail_after(10):
            while b"\n" not in self._buffer:
                chunk = await self._lines.receive()
                self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        self.history.append(line.decode())
        return self.history[-1]

    async def expect(self, prefix: str) -> str:
        """The first line it printed (so far, or next) that starts with *prefix*."""
        for line in self.history:
            if line.startswith(prefix):
                return line
        while not (line := await self.line()).startswith(prefix):
            pass
        return line

    def signal(self, sig: signal.Signals) -> None:
        """Send *sig* to the process, by its pid."""
        os.kill(self.process.pid, sig)


@asynccontextmanager
async def member_process(
    url: str,
    cluster: str,
    *args: str,
    env: dict[str, str] | None = None,
    wrap: Sequence[str] = (),
) -> AsyncIterator[MemberProcess]:
    """Start a member process in *cluster*; it is killed (by pid) on exit if still running.

    *wrap* comes before the command (``ip netns exec NAME``: it execs the
    command, so the pid is still the member's).
    """
    command = [*wrap, sys.executable, "-m", "tests.cluster.member", url, cluster, *args]
    environment = {**os.environ, "CLUSTER_SECRET": SECRET.decode(), **(env or {})}
    process = await anyio.open_process(
        command, cwd=ROOT, env=environment, stdin=subprocess.DEVNULL, stderr=None
    )
    member = MemberProcess(process)
    try:
        member.node_id = (await member.expect("joined ")).split()[1]
        yield member
    finally:
        if process.returncode is None:
            os.kill(process.pid, signal.SIGCONT)  # a frozen one cannot die otherwise
            os.kill(process.pid, signal.SIGKILL)
        with anyio.CancelScope(shield=True), anyio.fail_after(10):
            await process.wait()
            await process.aclose()


@asynccontextmanager
async def jetstream_kv(url: str) -> AsyncIterator[JetStreamKV]:
    """A fresh JetStream KV bucket of its own on the server at *url* (the client closed on exit)."""
    import nats

    client = await nats.connect(url)
    try:
        store = JetStreamKV(client.jetstream(), "kv-" + secrets.token_hex(6))
        await store.open()
        yield store
    finally:
        await client.close()
