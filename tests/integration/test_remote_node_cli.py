"""``python -m actorlib.remote node``: a standalone node that separate scripts talk to."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import anyio.abc
import pytest

from actorlib import Actor, ActorSystem
from actorlib.remote import AuthenticationError, NatsTransport, SocketTransport
from tests.nats_server import NatsServer

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parent.parent.parent
SECRET = "cli-secret-0123456789abcdef"


class Greeter(Actor):
    """Hosted by the standalone node, by import path."""

    async def receive(self, message: object) -> object:
        return f"hello, {message} (from pid {os.getpid()})"


class Doubler(Actor):
    async def receive(self, message: object) -> object:
        assert isinstance(message, int)
        return 2 * message


@contextlib.asynccontextmanager
async def running_node(listen: str, *options: str) -> AsyncIterator[str]:
    """A standalone node listening on *listen*, hosting /user/greeter; the address it
    says it listens on. Stopped with SIGTERM at the end: it must exit with 0."""
    command = [
        sys.executable, "-m", "actorlib.remote", "node",
        "--listen", listen,
        "--secret-env", "TEST_NODE_SECRET",
        "--spawn", f"greeter={__name__}:Greeter",
        *options,
    ]  # fmt: skip
    env = {**os.environ, "TEST_NODE_SECRET": SECRET, "PYTHONPATH": str(ROOT)}
    process = await anyio.open_process(command, env=env, cwd=ROOT, stdin=subprocess.DEVNULL)
    try:
        assert process.stdout is not None
        with anyio.fail_after(30):
            line = (await process.stdout.receive()).decode()
        assert " listening on " in line, line
        yield line.strip().rpartition(" listening on ")[2]
    finally:
        process.send_signal(signal.SIGTERM)
        with anyio.fail_after(10):
            code = await process.wait()
        await process.aclose()
        assert code == 0


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[str]:
    """A standalone node with the default options; its address."""
    address = f"unix:{tmp_path / 'node.sock'}"
    async with running_node(address) as said:
        assert said == address
        yield address


async def test_a_script_talks_to_a_standalone_node_by_address(node: str) -> None:
    transport = SocketTransport(secret=SECRET)
    async with ActorSystem("script", transport=transport):
        peer = await transport.connect(node)
        greeter = await peer.lookup("greeter")
        assert greeter is not None
        answer = await greeter.ask("world")
        assert answer.startswith("hello, world (from pid ")
        assert str(os.getpid()) not in answer
        assert await peer.lookup("nobody") is None


async def test_a_script_spawns_on_a_standalone_node(node: str) -> None:
    transport = SocketTransport(secret=SECRET)
    async with ActorSystem("script", transport=transport) as system:
        peer = await transport.connect(node)
        doubler = await system.spawn(Doubler, node=peer, name="doubler")
        assert await doubler.ask(21) == 42


async def test_the_standalone_node_refuses_the_wrong_secret(node: str) -> None:
    transport = SocketTransport(secret="not-the-cli-secret-at-all")
    async with ActorSystem("intruder", transport=transport):
        with pytest.raises(AuthenticationError, match="HMAC mismatch"):
            await transport.connect(node)


def test_the_node_command_explains_a_bad_spawn_spec() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "actorlib.remote", "node", "--listen", "unix:/tmp/x.sock",
         "--secret-env", "TEST_NODE_SECRET", "--spawn", "nonsense"],
        env={**os.environ, "TEST_NODE_SECRET": SECRET},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode != 0
    assert "--spawn expects NAME=package.module:Class, got 'nonsense'" in result.stderr


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_the_node_command_reports_a_short_secret_in_one_line(backend: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "actorlib.remote", "node", "--listen", "unix:/tmp/x.sock",
         "--secret-env", "TEST_NODE_SECRET", "--backend", backend],
        env={**os.environ, "TEST_NODE_SECRET": "short"},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "python -m actorlib.remote node: secret must be at least 16 bytes, got 5; generate one "
        "with `python -c 'import secrets; print(secrets.token_hex(32))'`"
    ]


async def test_the_node_command_sets_its_links_heartbeat(tmp_path: Path) -> None:
    # A Unix socket has no heartbeats by default; with --heartbeat the node asks
    # for them in its hello, so the idle link carries them both ways.
    async with running_node(f"unix:{tmp_path / 'node.sock'}", "--heartbeat", "0.05") as address:
        transport = SocketTransport(secret=SECRET)
        async with ActorSystem("script", transport=transport):
            peer = await transport.connect(address)
            assert (await peer.link()).heartbeat == 0.05
            (before,) = transport.link_statistics()

            def heard() -> int:
                return transport.link_statistics()[0].frames_received - before.frames_received

            with anyio.fail_after(10):  # ten heartbeats heard while nothing is sent
                while heard() < 10:  # noqa: ASYNC110 (no event says a frame came)
                    await anyio.sleep(0.05)


@pytest.mark.parametrize("anyio_backend", ["asyncio"])  # nats-py runs on asyncio only
async def test_the_node_command_sets_the_heartbeat_of_its_nats_links(
    nats_server: NatsServer,
) -> None:
    # Both ends of a link use the shorter of their two heartbeats: 5 s from the
    # node's --heartbeat (NatsTransport's default would be 0.2 s), 30 s here.
    async with running_node(nats_server.url, "--heartbeat", "5") as address:
        transport = NatsTransport(nats_server.url, secret=SECRET, heartbeat=30.0)
        async with ActorSystem("script", transport=transport):
            peer = await transport.connect(address)
            assert (await peer.link()).heartbeat == 5.0
            greeter = await peer.lookup("greeter")
            assert greeter is not None
            assert (await greeter.ask("nats")).startswith("hello, nats")


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf"])
def test_the_node_command_refuses_a_heartbeat_that_is_not_a_finite_positive_number(
    value: str,
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "actorlib.remote", "node", "--listen", "unix:/tmp/x.sock",
         "--secret-env", "TEST_NODE_SECRET", "--heartbeat", value],
        env={**os.environ, "TEST_NODE_SECRET": SECRET},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "python -m actorlib.remote node: heartbeat must be a finite number of seconds > 0 "
        f"or None, got {float(value)!r}"
    ]
