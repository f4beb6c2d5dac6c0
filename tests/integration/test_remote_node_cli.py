"""``python -m actorlib.remote node``: a standalone node that separate scripts talk to."""

from __future__ import annotations

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
from actorlib.remote import AuthenticationError, SocketTransport

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


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[str]:
    """A standalone node on a Unix socket, hosting /user/greeter; its address."""
    address = f"unix:{tmp_path / 'node.sock'}"
    command = [
        sys.executable, "-m", "actorlib.remote", "node",
        "--listen", address,
        "--secret-env", "TEST_NODE_SECRET",
        "--spawn", f"greeter={__name__}:Greeter",
    ]  # fmt: skip
    env = {**os.environ, "TEST_NODE_SECRET": SECRET, "PYTHONPATH": str(ROOT)}
    process = await anyio.open_process(command, env=env, cwd=ROOT, stdin=subprocess.DEVNULL)
    try:
        assert process.stdout is not None
        with anyio.fail_after(30):
            line = await process.stdout.receive()
        assert b"listening on " + address.encode() in line, line
        yield address
    finally:
        process.send_signal(signal.SIGTERM)
        with anyio.fail_after(10):
            code = await process.wait()
        await process.aclose()
        assert code == 0


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
