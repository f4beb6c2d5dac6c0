"""Hostile bytes from outsiders never take down a node nor a legitimate link (hypothesis).

One live node per backend (TCP loopback, /user/echo) serves every example; a
legitimate client node asks it throughout, in the background. Each example
is one outsider's connection (tests/properties/strategies.py `attacks`):
random bytes, frames cut short, oversized length prefixes, bad hellos, deep
JSON, pickles before and after a plausible hello. It attacks as an outsider
without the secret, so it depends on nothing after the handshake.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import anyio
import anyio.abc
import anyio.from_thread
import pytest
from hypothesis import HealthCheck, example, given, settings

from actorlib import ActorRef, ActorSystem
from actorlib.remote import SocketTransport
from actorlib.remote._framing import StreamFrames
from actorlib.remote._socket import parse_address
from tests.properties.strategies import BACKENDS, PWNED, Attack, attacks
from tests.remote_log import LogProbe

from .conftest import SECRET
from .test_link_security import Echo

# Seconds the node gives an outsider to authenticate.
HANDSHAKE_TIMEOUT = 2.0


class LiveNode:
    """The node under attack, its legitimate client's asks, and the node's log."""

    def __init__(self, address: str, echo: ActorRef[object], log: LogProbe) -> None:
        self.address = address
        self.echo = echo
        self.log = log
        self.answered = 0
        self.failures: list[str] = []

    async def keep_asking(self) -> None:
        """The legitimate client: an ask every few milliseconds, until cancelled."""
        while True:
            question = f"ask {self.answered}"
            try:
                answer = await self.echo.ask(question, timeout=10)
            except Exception as error:
                self.failures.append(repr(error))
            else:
                if answer != question:
                    self.failures.append(f"{question!r} was answered {answer!r}")
                self.answered += 1
            await anyio.sleep(0.005)  # pacing, not synchronization

    async def attack(self, attack: Attack) -> bool:
        """One outsider's connection; whether the node hung up on it in time."""
        _, host, port = parse_address(self.address)
        stream = await anyio.connect_tcp(host, port)
        frames = StreamFrames(stream, "the node")
        try:
            with anyio.fail_after(HANDSHAKE_TIMEOUT):
                if attack.read_hello:
                    await frames.receive_frame()
                for chunk in attack.chunks:
                    await stream.send(chunk)
                await stream.send_eof()
            with anyio.move_on_after(HANDSHAKE_TIMEOUT + 5):
                while True:
                    await stream.receive()
        except (anyio.EndOfStream, anyio.IncompleteRead, anyio.BrokenResourceError, OSError):
            return True  # hung up (TimeoutError, an OSError, counts too: it is its doing)
        finally:
            await stream.aclose()
        return False

    async def ask(self, question: str) -> object:
        return await self.echo.ask(question, timeout=10)


@asynccontextmanager
async def live_node(log: LogProbe) -> AsyncIterator[LiveNode]:
    server = SocketTransport(
        "tcp://127.0.0.1:0", secret=SECRET, handshake_timeout=HANDSHAKE_TIMEOUT
    )
    client = SocketTransport(secret=SECRET)
    async with ActorSystem("attacked", transport=server) as system:
        await system.spawn(Echo, name="echo")
        async with ActorSystem("legitimate", transport=client):
            echo = await (await client.connect(server.address or "")).lookup("echo")
            assert echo is not None
            node = LiveNode(server.address or "", echo, log)
            async with anyio.create_task_group() as group:
                group.start_soon(node.keep_asking)
                yield node
                group.cancel_scope.cancel()


@pytest.fixture(params=BACKENDS)
def node(request: pytest.FixtureRequest, remote_log: LogProbe) -> Iterator[LiveNode]:
    """A live node on the backend, in a thread of its own; examples reach it by portal."""
    with (
        anyio.from_thread.start_blocking_portal(request.param) as portal,
        portal.wrap_async_context_manager(live_node(remote_log)) as live,
    ):
        live.portal = portal  # type: ignore[attr-defined]
        yield live
        assert live.answered > 0
        assert live.failures == []


def portal_of(node: LiveNode) -> anyio.from_thread.BlockingPortal:
    portal: anyio.from_thread.BlockingPortal = node.portal  # type: ignore[attr-defined]
    return portal


@settings(
    max_examples=min(60, settings().max_examples),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(attack=attacks)
@example(attack=Attack(True, (b"\xff\xff\xff\xff",)))  # a 4 GiB hello
def test_outsiders_never_take_down_the_node_nor_the_legitimate_link(
    node: LiveNode, attack: Attack
) -> None:
    portal = portal_of(node)
    assert portal.call(node.attack, attack), "the node did not hang up on an outsider"
    assert node.failures == []
    assert portal.call(node.ask, "still there?") == "still there?"
    assert not os.path.exists(PWNED), "the node unpickled an outsider's bytes"
    troubles = [
        record.getMessage()
        for record in node.log.records
        if record.levelno >= logging.ERROR or record.exc_info
    ]
    assert troubles == []
    assert all(line.isprintable() for line in node.log.lines)
