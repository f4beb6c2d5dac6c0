"""Link security: the handshake, the size limit, garbage; each refusal is logged and
leaves the other links of the node alone."""

from __future__ import annotations

import os
import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import pytest

from actorlib import Actor, ActorSystem
from actorlib.remote import AuthenticationError, FrameTooLarge, Peer, SocketTransport
from actorlib.remote._auth import handshake, secret_from_env
from actorlib.remote._framing import StreamFrames
from actorlib.remote._sealed import SealedFrames
from actorlib.remote._socket import parse_address

from .conftest import SECRET, LogProbe

pytestmark = pytest.mark.anyio


class Echo(Actor):
    async def receive(self, message: object) -> object:
        return message


@asynccontextmanager
async def server_and_client(
    server_secret: bytes = SECRET, *, max_frame: int = 1 << 20
) -> AsyncIterator[tuple[SocketTransport, Peer]]:
    """A server node with /user/echo, and a client node linked to it."""
    server = SocketTransport(secret=server_secret, max_frame=max_frame)
    client = SocketTransport(secret=SECRET, max_frame=max_frame)
    async with ActorSystem("server", transport=server) as system:
        await system.spawn(Echo, name="echo")
        async with ActorSystem("client", transport=client):
            yield server, await client.connect(server.address or "")


async def raw_stream(address: str) -> StreamFrames:
    _, path, _ = parse_address(address)
    return StreamFrames(await anyio.connect_unix(path), address)


async def assert_still_works(peer: Peer) -> None:
    echo = await peer.lookup("echo")
    assert echo is not None
    assert await echo.ask("still here") == "still here"


async def test_a_peer_with_the_wrong_secret_is_refused_and_logged(remote_log: LogProbe) -> None:
    async with server_and_client() as (server, peer):
        intruder = SocketTransport(secret=b"another-secret-0123456789")
        async with ActorSystem("intruder", transport=intruder):
            with pytest.raises(AuthenticationError, match="HMAC mismatch"):
                await intruder.connect(server.address or "")
        await remote_log.wait_for("HMAC mismatch")
        await assert_still_works(peer)


async def test_a_garbage_hello_is_refused_and_logged(remote_log: LogProbe) -> None:
    async with server_and_client() as (server, peer):
        raw = await raw_stream(server.address or "")
        await raw.send_frame(b"\x80\x05 not a hello")
        await raw.receive_frame()  # the server sends its hello first...
        with pytest.raises((anyio.EndOfStream, anyio.IncompleteRead)):
            await raw.receive_frame()  # ...then hangs up
        await remote_log.wait_for("not an actorlib node")
        await raw.aclose()
        await assert_still_works(peer)


async def test_a_garbage_frame_after_the_handshake_closes_only_that_link(
    remote_log: LogProbe,
) -> None:
    async with server_and_client() as (server, peer):
        raw = await raw_stream(server.address or "")
        # A peer that knows the secret, so its frames are sealed, but sends garbage.
        sealed = SealedFrames(raw, await handshake(raw, SECRET, "raw-client", None, initiator=True))
        await sealed.send_frame(b"\x80\x05garbage that is not a pickle")
        await remote_log.wait_for("it is garbage")
        await raw.aclose()
        await assert_still_works(peer)


async def test_a_frame_that_smuggles_a_global_is_refused(remote_log: LogProbe) -> None:
    import pickle

    async with server_and_client() as (server, peer):
        raw = await raw_stream(server.address or "")
        sealed = SealedFrames(raw, await handshake(raw, SECRET, "raw-client", None, initiator=True))
        await sealed.send_frame(pickle.dumps([(0, os.system)]))
        await remote_log.wait_for("a frame may hold only tuples of plain values")
        await raw.aclose()
        await assert_still_works(peer)


async def test_an_oversized_frame_is_refused_before_it_is_read(remote_log: LogProbe) -> None:
    async with server_and_client(max_frame=4096) as (server, peer):
        raw = await raw_stream(server.address or "")
        await handshake(raw, SECRET, "raw-client", None, initiator=True)
        await raw.stream.send(struct.pack(">I", 1 << 30))
        await remote_log.wait_for("a frame of 1073741824 bytes")
        await raw.aclose()
        await assert_still_works(peer)


async def test_a_message_over_the_limit_is_a_clear_error_for_its_sender() -> None:
    async with server_and_client(max_frame=4096) as (_, peer):
        echo = await peer.lookup("echo")
        assert echo is not None
        with pytest.raises(FrameTooLarge, match="over the limit of 4096 bytes"):
            echo.tell(b"x" * 10_000)
        with pytest.raises(FrameTooLarge, match="raise max_frame on both nodes"):
            await echo.ask(b"x" * 10_000)
        assert await echo.ask(b"x" * 1000) == b"x" * 1000


def test_the_secret_must_be_long_enough() -> None:
    with pytest.raises(ValueError, match="secret must be at least 16 bytes, got 5"):
        SocketTransport(secret="short")


def test_a_secret_from_a_missing_variable_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="ACTORLIB_NOPE must hold the cluster's shared secret"):
        secret_from_env("ACTORLIB_NOPE")


def test_listening_beyond_loopback_needs_to_be_asked_for() -> None:
    with pytest.raises(ValueError, match="pass public=True"):
        SocketTransport("tcp://0.0.0.0:7000")
    SocketTransport("tcp://0.0.0.0:7000", public=True)


@pytest.mark.parametrize("address", ["tcp://host", "udp://x:1", "unix:", 7])
def test_a_malformed_address_is_a_clear_error(address: object) -> None:
    with pytest.raises(ValueError, match="address must be 'unix:/path/to/socket' or"):
        SocketTransport(address)  # type: ignore[arg-type]


async def test_tcp_links_can_run_over_tls() -> None:
    import ssl

    import trustme

    authority = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1").configure_cert(server_context)
    client_context = ssl.create_default_context()
    authority.configure_trust(client_context)
    server = SocketTransport(
        "tcp://127.0.0.1:0", secret=SECRET, tls=server_context, tls_client=client_context
    )
    client = SocketTransport(secret=SECRET, tls_client=client_context)
    plain = SocketTransport(secret=SECRET)
    async with ActorSystem("server", transport=server) as system:
        await system.spawn(Echo, name="echo")
        async with ActorSystem("client", transport=client):
            peer = await client.connect(server.address or "")
            await assert_still_works(peer)
        async with ActorSystem("plain", transport=plain):
            with pytest.raises(AuthenticationError, match="closed during the handshake"):
                await plain.connect(server.address or "")


class Unregistered:
    """A message class the restricted node does not accept."""


async def test_a_restricted_node_refuses_unregistered_types_and_keeps_the_link(
    remote_log: LogProbe,
) -> None:
    from actorlib.remote import RestrictedSerializer, SerializationError

    server = SocketTransport(secret=SECRET, serializer=RestrictedSerializer())
    client = SocketTransport(secret=SECRET)
    async with ActorSystem("server", transport=server) as system:
        await system.spawn(Echo, name="echo")
        async with ActorSystem("client", transport=client) as client_system:
            peer = await client.connect(server.address or "")
            echo = await peer.lookup("echo")
            assert echo is not None
            echo.tell(Unregistered())
            await remote_log.wait_for("Unregistered: it is not a registered message type")
            with pytest.raises(SerializationError, match="not a registered message type"):
                await echo.ask(Unregistered())
            with pytest.raises(SerializationError, match="not a registered message type"):
                await client_system.spawn(Echo, node=peer)  # no classes by value either
            assert await echo.ask(["plain", 1, b"x"]) == ["plain", 1, b"x"]


def test_tcp_links_have_heartbeats_by_default() -> None:
    assert SocketTransport("tcp://127.0.0.1:0").heartbeat == 5.0
    assert SocketTransport().heartbeat is None  # a Unix socket: a dead process closes it
    assert SocketTransport(heartbeat=0.5).heartbeat == 0.5
    for bad in (0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="heartbeat must be a finite number of seconds > 0"):
            SocketTransport(heartbeat=bad)


async def test_a_peer_that_goes_silent_is_dropped_by_heartbeats(remote_log: LogProbe) -> None:
    server = SocketTransport(secret=SECRET, heartbeat=0.05)
    async with ActorSystem("server", transport=server):
        raw = await raw_stream(server.address or "")
        await handshake(raw, SECRET, "raw-client", None, initiator=True)
        # Authenticated, then silent: no frame, no heartbeat, no end of stream.
        await remote_log.wait_for("no heartbeat from raw-client")
        await raw.aclose()


async def test_an_oversized_hello_is_refused_from_its_length_prefix(remote_log: LogProbe) -> None:
    async with server_and_client() as (server, peer):
        raw = await raw_stream(server.address or "")
        # Announce 16 MiB and send none of it: the node must not wait to buffer it.
        await raw.stream.send(struct.pack(">I", 16 << 20) + b"{")
        await remote_log.wait_for("announced a frame of 16777216 bytes during the handshake")
        await raw.aclose()
        await assert_still_works(peer)


async def test_a_hello_cannot_forge_log_lines(remote_log: LogProbe) -> None:
    import json

    async with server_and_client() as (server, peer):
        raw = await raw_stream(server.address or "")
        forged = "x\nCRITICAL actorlib: node root linked with admin"
        hello = {"protocol": "actorlib/2", "node": forged, "address": None, "nonce": "00" * 32}
        await raw.send_frame(json.dumps(hello).encode())
        await remote_log.wait_for("malformed node id")
        await raw.aclose()
        await assert_still_works(peer)
        assert not any("linked with admin" in line for line in remote_log.lines)


async def test_a_peer_of_the_old_protocol_is_told_what_is_wrong(remote_log: LogProbe) -> None:
    import json

    async with server_and_client() as (server, peer):
        raw = await raw_stream(server.address or "")
        hello = {"protocol": "actorlib/1", "node": "old", "address": None, "nonce": "00" * 32}
        await raw.send_frame(json.dumps(hello).encode())
        await remote_log.wait_for("it does not speak actorlib/2")
        await raw.aclose()
        await assert_still_works(peer)
