"""Hostile connections cost a node little: handshakes are capped and timed, refusals are
one escaped line each, and a dead peer is not dialed (nor warned about) on every message."""

from __future__ import annotations

import json
import logging
import os
import ssl
from pathlib import Path

import anyio
import anyio.abc
import pytest

from actorlib import Actor, ActorSystem
from actorlib.remote import NodeLost, SocketTransport, _node
from actorlib.remote._framing import StreamFrames
from actorlib.remote._socket import parse_address

from .conftest import SECRET, LogProbe

pytestmark = pytest.mark.anyio


class Echo(Actor):
    async def receive(self, message: object) -> object:
        return message


async def connect(address: str) -> anyio.abc.SocketStream:
    kind, host, port = parse_address(address)
    if kind == "unix":
        return await anyio.connect_unix(host)
    return await anyio.connect_tcp(host, port)


async def hangs_up(stream: anyio.abc.SocketStream) -> bool:
    """Whether the node closes *stream* (after its hello) within 5 s; no: still open."""
    frames = StreamFrames(stream, "the node")
    with anyio.move_on_after(5):
        try:
            while True:
                await frames.receive_frame()
        except (anyio.EndOfStream, anyio.IncompleteRead, anyio.BrokenResourceError, OSError):
            return True
    return False


async def asks_through(transport: SocketTransport, address: str) -> None:
    """A client node links with *address* and its echo answers."""
    async with ActorSystem("client", transport=transport):
        echo = await (await transport.connect(address)).lookup("echo")
        assert echo is not None
        assert await echo.ask("hello") == "hello"


def warnings(probe: LogProbe) -> list[logging.LogRecord]:
    return [r for r in probe.records if r.levelno >= logging.WARNING]


def test_the_handshake_limit_and_timeout_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_handshakes must be an int >= 1, got 0"):
        SocketTransport(max_handshakes=0)
    with pytest.raises(ValueError, match="handshake_timeout must be a number of seconds > 0"):
        SocketTransport(handshake_timeout=-1)


async def test_idle_connections_beyond_the_handshake_limit_make_room_for_a_real_peer(
    remote_log: LogProbe,
) -> None:
    server = SocketTransport(secret=SECRET, max_handshakes=4, handshake_timeout=30)
    async with ActorSystem("server", transport=server) as system:
        await system.spawn(Echo, name="echo")
        address = server.address or ""
        idle = [await connect(address) for _ in range(6)]  # never authenticate
        try:
            # The two oldest make room for the two newest, and nobody waits 30 s.
            assert await hangs_up(idle[0])
            assert await hangs_up(idle[1])
            line = await remote_log.wait_for("4 connections were authenticating at once")
            assert "closed the oldest" in line
            await asks_through(SocketTransport(secret=SECRET), address)
        finally:
            for stream in idle:
                await stream.aclose()
    assert not any(r.exc_info for r in remote_log.records)


async def test_a_connection_that_never_authenticates_is_closed_after_the_timeout(
    remote_log: LogProbe,
) -> None:
    server = SocketTransport(secret=SECRET, handshake_timeout=0.2)
    async with ActorSystem("server", transport=server):
        stream = await connect(server.address or "")
        assert await hangs_up(stream)
        await stream.aclose()
        await remote_log.wait_for("no handshake within 0.2 s")


async def test_a_client_that_stalls_its_tls_handshake_is_timed_out_without_a_traceback(
    remote_log: LogProbe,
) -> None:
    import trustme

    authority = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1").configure_cert(server_context)
    client_context = ssl.create_default_context()
    authority.configure_trust(client_context)
    server = SocketTransport(
        "tcp://127.0.0.1:0", secret=SECRET, tls=server_context, handshake_timeout=0.2
    )
    async with ActorSystem("server", transport=server) as system:
        await system.spawn(Echo, name="echo")
        address = server.address or ""
        stalled = await connect(address)  # TCP, then not a byte of TLS
        garbage = await connect(address)
        await garbage.send(b"GET / HTTP/1.0\r\n\r\n")
        await asks_through(SocketTransport(secret=SECRET, tls_client=client_context), address)
        assert await hangs_up(stalled)
        assert await hangs_up(garbage)
        await stalled.aclose()
        await garbage.aclose()
        await remote_log.wait_for("no handshake within 0.2 s")
        await remote_log.wait_for("its TLS handshake failed")
    assert not any(r.exc_info for r in remote_log.records)


async def test_a_refused_connection_is_one_warning_without_a_traceback(
    remote_log: LogProbe,
) -> None:
    server = SocketTransport(secret=SECRET)
    async with ActorSystem("server", transport=server):
        stream = await connect(server.address or "")
        await StreamFrames(stream, "the node").send_frame(b"\x80\x05 not a hello")
        assert await hangs_up(stream)
        await stream.aclose()
        await remote_log.wait_for("not an actorlib node")
    refusals = [r for r in remote_log.records if "refused" in r.getMessage()]
    assert [r.levelno for r in refusals] == [logging.WARNING]
    assert refusals[0].exc_info is None


async def test_a_deeply_nested_hello_is_refused_without_a_traceback(
    remote_log: LogProbe,
) -> None:
    # Found by test_fuzz_node, where hypothesis's raised recursion limit hides
    # it: json.loads raises RecursionError, not ValueError, past ~1000 levels.
    server = SocketTransport(secret=SECRET)
    async with ActorSystem("server", transport=server):
        stream = await connect(server.address or "")
        await StreamFrames(stream, "the node").send_frame(b"[" * 2000 + b"]" * 2000)
        assert await hangs_up(stream)
        await stream.aclose()
        await remote_log.wait_for("refused the link")
    assert [r for r in remote_log.records if r.levelno >= logging.ERROR or r.exc_info] == []


async def test_a_hello_with_newlines_and_escapes_cannot_forge_log_lines(
    remote_log: LogProbe,
) -> None:
    forged = "evil\nERROR actorlib.remote the node was compromised\x1b[2J\u202e"
    hello = {"protocol": "actorlib/1", "node": forged, "address": forged, "nonce": "ab" * 32}
    server = SocketTransport(secret=SECRET)
    async with ActorSystem("server", transport=server):
        stream = await connect(server.address or "")
        frames = StreamFrames(stream, "the node")
        await frames.send_frame(json.dumps(hello).encode())
        await frames.send_frame(b"\x00" * 32)  # a proof that cannot be right
        assert await hangs_up(stream)
        await stream.aclose()
        await remote_log.wait_for("refused the link")
    for line in remote_log.lines:
        assert line.isprintable(), line  # no newline, no escape, no bidi override


async def test_a_flood_of_bad_hellos_is_not_a_flood_of_log_lines(remote_log: LogProbe) -> None:
    server = SocketTransport(secret=SECRET)
    async with ActorSystem("server", transport=server):
        address = server.address or ""
        started = anyio.current_time()
        for _ in range(60):
            stream = await connect(address)
            await StreamFrames(stream, "the node").send_frame(b"garbage")
            assert await hangs_up(stream)
            await stream.aclose()
        seconds = anyio.current_time() - started
        refusals = [line for line in remote_log.lines if "not an actorlib node" in line]
        assert len(refusals) <= 10 * (int(seconds) + 1) < 60
        # The next line that is logged says how many were not.
        await anyio.sleep(1.0)  # the throttle's second: a real-time limit, by design
        stream = await connect(address)
        await StreamFrames(stream, "the node").send_frame(b"garbage")
        assert await hangs_up(stream)
        await stream.aclose()
        await remote_log.wait_for("more since were not logged")


async def test_a_peer_that_hangs_up_is_news_not_a_warning(remote_log: LogProbe) -> None:
    server = SocketTransport(secret=SECRET)
    client = SocketTransport(secret=SECRET)
    async with ActorSystem("client", transport=client):
        async with ActorSystem("server", transport=server):
            peer = await client.connect(server.address or "")
            link = client.node.links[peer.node_id]
        await link.wait_closed()
        line = await remote_log.wait_for(f"lost its link with {peer.node_id}")
    record = next(r for r in remote_log.records if r.getMessage() == line)
    assert record.levelno == logging.INFO
    assert warnings(remote_log) == []


async def test_asks_to_a_dead_node_fail_at_once_without_a_dial_or_a_warning_each(
    remote_log: LogProbe, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The backoff is real time: one long enough that a loaded machine (a garbage
    # collection of the whole test run's heap took 0.24 s) still sends all 200
    # messages within it, so exactly one dial is expected.
    monkeypatch.setattr(_node, "DIAL_BACKOFF_MIN", 30.0)
    path = tmp_path / "node.sock"
    server = SocketTransport(f"unix:{path}", secret=SECRET)
    client = SocketTransport(secret=SECRET)
    async with ActorSystem("client", transport=client) as client_system:
        async with ActorSystem("server", transport=server) as server_system:
            await server_system.spawn(Echo, name="echo")
            peer = await client.connect(server.address or "")
            echo = await peer.lookup("echo")
            assert echo is not None
            link = client.node.links[peer.node_id]
        await link.wait_closed()
        # Something else answers at the dead node's address now: it counts the dials.
        if path.exists():
            os.unlink(path)
        dials = 0
        async with await anyio.create_unix_listener(path) as impostor:

            async def count_and_hang_up(stream: anyio.abc.SocketStream) -> None:
                nonlocal dials
                dials += 1
                await stream.aclose()

            async with anyio.create_task_group() as group:
                group.start_soon(impostor.serve, count_and_hang_up)
                started = anyio.current_time()
                for _ in range(100):
                    with pytest.raises(
                        NodeLost, match=f"node {peer.node_id} hosting .*/user/echo was lost"
                    ):
                        await echo.ask("anyone?")
                for _ in range(100):
                    echo.tell("anyone?")
                assert anyio.current_time() - started < 30.0  # within one backoff period
                group.cancel_scope.cancel()
        assert client_system.statistics().dead_letters >= 100
    assert dials == 1
    dial_warnings = [r for r in warnings(remote_log) if "cannot reach node" in r.getMessage()]
    assert len(dial_warnings) == 1
    assert "fail for the next 30 s" in dial_warnings[0].getMessage()
    assert len(warnings(remote_log)) <= 2


async def test_a_node_is_dialed_again_once_its_backoff_is_over(tmp_path: Path) -> None:
    path = tmp_path / "node.sock"
    client = SocketTransport(secret=SECRET)
    async with ActorSystem("client", transport=client):
        server = SocketTransport(f"unix:{path}", secret=SECRET, node_id="comes-back")
        async with ActorSystem("server", transport=server) as server_system:
            await server_system.spawn(Echo, name="echo")
            peer = await client.connect(f"unix:{path}")
            link = client.node.links["comes-back"]
        await link.wait_closed()
        if path.exists():
            os.unlink(path)
        with pytest.raises(NodeLost):
            await peer.lookup("echo")  # dials, fails: a backoff of 1 s begins
        with pytest.raises(NodeLost):
            await peer.lookup("echo")  # within it: not dialed
        server = SocketTransport(f"unix:{path}", secret=SECRET, node_id="comes-back")
        async with ActorSystem("server", transport=server) as server_system:
            await server_system.spawn(Echo, name="echo")
            with anyio.fail_after(5):
                while True:
                    try:
                        echo = await peer.lookup("echo")
                        break
                    except NodeLost:
                        await anyio.sleep(0.1)  # polling the backoff, which is real time
            assert echo is not None
            assert await echo.ask("back") == "back"
