"""Attacks on links after the handshake: every frame is sealed, so nothing forged,
altered or replayed is decoded, and nothing on NATS can be read.

The attackers: a man in the middle of a TCP link without TLS (a proxy that
forwards, records, alters, replays and injects frames), and a plain NATS
client with no secret that reads and publishes on every subject.
"""

from __future__ import annotations

import pickle
import struct
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import pytest

from actorlib import Actor, ActorSystem
from actorlib.remote import AuthenticationError, NatsTransport, NodeLost, SocketTransport
from actorlib.remote._auth import handshake
from actorlib.remote._errors import IntegrityError
from actorlib.remote._framing import StreamFrames
from actorlib.remote._memory import MemoryFrames
from actorlib.remote._nats_connect import wait_subscribed
from actorlib.remote._sealed import SealedFrames
from actorlib.remote._wire import FRAME, TELL, encode_frame
from tests.nats_server import NatsServer

from .conftest import SECRET, LogProbe

pytestmark = pytest.mark.anyio

_HEADER = struct.Struct(">I")


class Counter(Actor):
    """Counts the "incr" it is told; answers "get" and echoes anything else."""

    def __init__(self) -> None:
        self.count = 0

    async def receive(self, message: object) -> object:
        if message == "incr":
            self.count += 1
            return None
        if message == "get":
            return self.count
        return message


class Marker:
    """A pickle that, once loaded, creates a file: proof that code ran."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Callable[..., object], tuple[str, str]]:
        return (Path.write_text, (Path(self.path), "pwned"))  # type: ignore[return-value]


# ---------------------------------------------------------------- a man in the middle


class Interceptor:
    """A TCP proxy between a client node and a server node that sees every frame."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.to_server: list[bytes] = []  # frames the client sent, in order
        self.server_side: anyio.abc.SocketStream | None = None
        self.alter: Callable[[int, bytes], bytes] | None = None  # (index, frame) -> frame
        self.connections = 0
        self.port = 0

    async def inject(self, frame: bytes) -> None:
        """Send *frame* to the server as if the client had sent it."""
        assert self.server_side is not None
        await self.server_side.send(_HEADER.pack(len(frame)) + frame)

    async def run(self, listener: anyio.abc.Listener[anyio.abc.SocketStream]) -> None:
        async with listener:
            await listener.serve(self._handle)

    async def _handle(self, client: anyio.abc.SocketStream) -> None:
        self.connections += 1
        async with client, await anyio.connect_tcp(*self.upstream) as server:
            self.server_side = server
            async with anyio.create_task_group() as group:
                group.start_soon(self._pump_back, server, client, group.cancel_scope)
                await self._pump_frames(client, server)
                group.cancel_scope.cancel()

    async def _pump_frames(self, client: Any, server: Any) -> None:
        frames = StreamFrames(client, "client", 1 << 24)
        while True:
            try:
                frame = await frames.receive_frame()
            except (anyio.EndOfStream, anyio.IncompleteRead, anyio.BrokenResourceError):
                return
            index = len(self.to_server)
            self.to_server.append(frame)
            if self.alter is not None:
                frame = self.alter(index, frame)
            try:
                await server.send(_HEADER.pack(len(frame)) + frame)
            except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                return

    async def _pump_back(self, server: Any, client: Any, scope: anyio.CancelScope) -> None:
        try:
            async for chunk in server:
                await client.send(chunk)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            pass
        scope.cancel()


@asynccontextmanager
async def intercepted_link() -> AsyncIterator[tuple[Interceptor, Any, ActorSystem]]:
    """A server node with /user/counter, a client linked to it through an interceptor."""
    server = SocketTransport("tcp://127.0.0.1:0", secret=SECRET)
    client = SocketTransport(secret=SECRET)
    async with ActorSystem("server", transport=server) as server_system:
        await server_system.spawn(Counter, name="counter")
        port = int((server.address or "").rsplit(":", 1)[1])
        interceptor = Interceptor(("127.0.0.1", port))
        listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
        interceptor.port = listener.extra(anyio.abc.SocketAttribute.local_port)
        async with anyio.create_task_group() as group:
            group.start_soon(interceptor.run, listener)
            async with ActorSystem("client", transport=client):
                peer = await client.connect(f"tcp://127.0.0.1:{interceptor.port}")
                counter = await peer.lookup("counter")
                assert counter is not None
                yield interceptor, counter, server_system
            group.cancel_scope.cancel()


async def test_a_pickle_injected_into_a_tcp_link_is_never_loaded(
    tmp_path: Path, remote_log: LogProbe
) -> None:
    marker = tmp_path / "pwned"
    async with intercepted_link() as (interceptor, counter, _):
        payload = b"P" + pickle.dumps(Marker(str(marker)))
        # A well-formed batch, numbered like the next frame, but not sealed.
        frame = encode_frame([(FRAME, 3, 0), (TELL, "/user/counter", 0, None, payload)])
        await interceptor.inject(frame)
        await remote_log.wait_for("failed its authentication tag")
        assert not marker.exists()
        # The link the attacker hit is closed; the next ask dials again and works.
        with pytest.raises(NodeLost):
            await counter.ask("get")
        assert await counter.ask("after") == "after"
        assert not marker.exists()


async def test_a_replayed_tcp_frame_is_not_delivered_twice(remote_log: LogProbe) -> None:
    async with intercepted_link() as (interceptor, counter, _):
        counter.tell("incr")
        assert await counter.ask("get") == 1
        # Find the frame that carried the tell and replay it verbatim.
        carrying = [f for f in interceptor.to_server if b"incr" in f]
        assert len(carrying) == 1
        await interceptor.inject(carrying[0])
        await remote_log.wait_for("(a replay)")
        with pytest.raises(NodeLost):
            await counter.ask("get")
        assert await counter.ask("get") == 1


async def test_an_altered_tcp_frame_is_refused_before_it_is_decoded(
    remote_log: LogProbe,
) -> None:
    async with intercepted_link() as (interceptor, counter, _):

        def flip_a_byte(index: int, frame: bytes) -> bytes:
            if b"secret-value" not in frame:
                return frame
            at = frame.index(b"secret-value")
            return frame[:at] + b"S" + frame[at + 1 :]

        interceptor.alter = flip_a_byte
        with pytest.raises(NodeLost):
            await counter.ask("secret-value")
        await remote_log.wait_for("failed its authentication tag")
        interceptor.alter = None
        assert await counter.ask("secret-value") == "secret-value"


async def test_an_altered_hello_fails_the_handshake(remote_log: LogProbe) -> None:
    server = SocketTransport("tcp://127.0.0.1:0", secret=SECRET)
    client = SocketTransport(secret=SECRET)
    async with ActorSystem("server", transport=server):
        port = int((server.address or "").rsplit(":", 1)[1])
        interceptor = Interceptor(("127.0.0.1", port))

        def redirect(index: int, frame: bytes) -> bytes:
            # The client's hello: claim another address (redirect later dials).
            if index:
                return frame
            return frame.replace(b'"address": "unix:', b'"address": "unix:/tmp/evil')

        interceptor.alter = redirect
        listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
        port = listener.extra(anyio.abc.SocketAttribute.local_port)
        async with anyio.create_task_group() as group:
            group.start_soon(interceptor.run, listener)
            async with ActorSystem("client", transport=client):
                with pytest.raises(AuthenticationError, match="HMAC mismatch"):
                    await client.connect(f"tcp://127.0.0.1:{port}")
            group.cancel_scope.cancel()
        assert interceptor.to_server[0] != redirect(0, interceptor.to_server[0])


# ---------------------------------------------------------------- the seal itself


@asynccontextmanager
async def sealed_pair() -> AsyncIterator[tuple[SealedFrames, SealedFrames]]:
    """Two ends of a sealed stream channel in memory (a handshake each way)."""
    ab_send, ab_receive = anyio.create_memory_object_stream[bytes](16)
    ba_send, ba_receive = anyio.create_memory_object_stream[bytes](16)
    a = MemoryFrames(ab_send, ba_receive, "b", 1 << 16)
    b = MemoryFrames(ba_send, ab_receive, "a", 1 << 16)
    sessions: dict[str, Any] = {}

    async def shake(name: str, channel: MemoryFrames, initiator: bool) -> None:
        sessions[name] = await handshake(channel, SECRET, name, None, initiator=initiator)

    async with anyio.create_task_group() as group:
        group.start_soon(shake, "a", a, True)
        group.start_soon(shake, "b", b, False)
    try:
        yield SealedFrames(a, sessions["a"]), SealedFrames(b, sessions["b"])
    finally:
        await a.aclose()
        await b.aclose()


async def test_each_direction_and_each_link_has_its_own_keys() -> None:
    async with sealed_pair() as (a, b), sealed_pair() as (c, _):
        assert a.session.send_key == b.session.receive_key
    assert a.session.send_key != a.session.receive_key
    assert a.session.link_id == b.session.link_id != c.session.link_id
    assert c.session.send_key != a.session.send_key
    assert "key" not in repr(a.session)


async def test_a_frame_sealed_for_one_direction_is_refused_in_the_other() -> None:
    async with sealed_pair() as (a, b):
        await a.send_frame(b"hello")
        frame = await b.channel.receive_frame()
        with pytest.raises(IntegrityError, match="failed its authentication tag"):
            a.open(frame)  # a reflection back at its sender
        assert b.open(frame) == b"hello"
        with pytest.raises(IntegrityError, match="came again after 1"):
            b.open(frame)


async def test_a_frame_that_skips_numbers_closes_the_link() -> None:
    async with sealed_pair() as (a, b):
        await a.send_frame(b"one")
        await a.send_frame(b"two")
        await b.channel.receive_frame()
        with pytest.raises(IntegrityError, match="frames 1 to 1 never arrived"):
            b.open(await b.channel.receive_frame())


async def test_an_unsealed_end_of_stream_is_not_an_end_of_stream() -> None:
    async with sealed_pair() as (a, b):
        with pytest.raises(IntegrityError, match="failed its authentication tag"):
            b.open(b"")
        await a.send_eof()
        with pytest.raises(anyio.EndOfStream):
            await b.receive_frame()


# ---------------------------------------------------------------- a NATS eavesdropper


@asynccontextmanager
async def nats_link(
    server: NatsServer,
) -> AsyncIterator[tuple[Any, Any, list[tuple[str, bytes]]]]:
    """Two nodes linked over NATS, /user/counter on B, and an attacker that records all."""
    import nats

    attacker = await nats.connect(server.url)
    captured: list[tuple[str, bytes]] = []

    async def record(msg: Any) -> None:
        captured.append((msg.subject, msg.data))

    await attacker.subscribe("actorlib.>", cb=record)
    await wait_subscribed(attacker)  # not flush(): its PING can overtake a pending SUB
    transport_a = NatsTransport(server.url, secret=SECRET, lookup_timeout=10.0)
    transport_b = NatsTransport(server.url, secret=SECRET, lookup_timeout=10.0)
    try:
        async with (
            ActorSystem("b", transport=transport_b) as b,
            ActorSystem("a", transport=transport_a),
        ):
            await b.spawn(Counter, name="counter")
            peer = await transport_a.connect(transport_b.address or "")
            counter = await peer.lookup("counter")
            assert counter is not None
            yield attacker, counter, captured
    finally:
        await attacker.close()


# nats-py runs on asyncio only.
only_asyncio = pytest.mark.parametrize("anyio_backend", ["asyncio"])


@only_asyncio
async def test_a_nats_client_cannot_read_what_a_link_carries(nats_server: NatsServer) -> None:
    async with nats_link(nats_server) as (_, counter, captured):
        assert await counter.ask(b"the-secret-value-0xC0FFEE") == b"the-secret-value-0xC0FFEE"
        counter.tell("the-told-secret-0xBEEF")
        assert await counter.ask("get") == 0
    link_frames = [data for subject, data in captured if ".link." in subject]
    assert len(link_frames) > 4  # it did see the traffic...
    for data in link_frames:  # ...and none of it in clear
        assert b"0xC0FFEE" not in data
        assert b"0xBEEF" not in data
        assert b"/user/counter" not in data


@only_asyncio
async def test_a_nats_client_cannot_replay_or_forge_link_frames(
    nats_server: NatsServer, tmp_path: Path, remote_log: LogProbe
) -> None:
    marker = tmp_path / "pwned"
    async with nats_link(nats_server) as (attacker, counter, captured):
        counter.tell("incr")
        assert await counter.ask("get") == 1
        frames = [(s, d) for s, d in captured if ".link." in s]
        for subject, data in frames:  # replay everything it saw, verbatim
            await attacker.publish(subject, data)
        payload = b"P" + pickle.dumps(Marker(str(marker)))
        forged = encode_frame([(FRAME, 99, 0), (TELL, "/user/counter", 0, None, payload)])
        for subject in {s for s, _ in frames}:
            await attacker.publish(subject, forged)
            await attacker.publish(subject, b"")  # the unsealed end of stream
            await attacker.publish(subject, b"\x00" * 8 + forged)
        await wait_subscribed(attacker)  # not flush(): its PING can overtake a pending SUB
        await remote_log.wait_for("that its peer did not send")
        # The link is still up, and nothing was delivered twice or run.
        assert await counter.ask("get") == 1
        assert not marker.exists()
