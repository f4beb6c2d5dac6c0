"""actorlib.remote on the system's Clock seam: heartbeats, link loss, handshakes and
NATS request retries happen in virtual time, with no real waiting.

Two nodes on a `MemoryTransport` share one `VirtualClock`: a peer that goes
silent is lost exactly four heartbeats (of virtual time) after its last
frame, while a healthy quiet link lives through any number of them.
"""

from __future__ import annotations

import time
from typing import Any

import anyio
import pytest

from actorlib import ActorSystem
from actorlib.remote import MemoryNetwork, MemoryTransport, NodeLost, NodeTransport
from actorlib.remote._errors import AuthenticationError
from actorlib.remote._framing import FrameChannel
from actorlib.remote._link import HEARTBEATS_MISSED
from actorlib.remote._memory import MemoryFrames
from actorlib.remote._nats_inbox import Inbox
from actorlib.remote._nats_sealed import RefusalLog, Sealer
from actorlib.testing import VirtualClock
from tests.helpers import Idle, Probe, Watcher

from .conftest import SECRET, LogProbe

pytestmark = pytest.mark.anyio

HEARTBEAT = 0.5  # exact in binary: virtual times compare exactly
# Real seconds that a run of many virtual seconds may take at most (a loaded CI machine).
REAL_BOUND = 2.0


class Tap:
    """One end of a link's channel: notes the virtual time of each frame sent; `silence` drops them.

    The peer behind it goes silent: alive, but nothing it sends arrives.
    """

    def __init__(self, channel: FrameChannel, clock: VirtualClock) -> None:
        self.channel = channel
        self.peer = channel.peer
        self.max_frame = channel.max_frame
        self.clock = clock
        self.sent: list[float] = []
        self.silent = False

    def silence(self) -> None:
        self.silent = True

    async def send_frame(self, frame: bytes) -> None:
        if self.silent:
            return
        self.sent.append(self.clock.now())
        await self.channel.send_frame(frame)

    async def receive_frame(self, limit: int | None = None) -> bytes:
        return await self.channel.receive_frame(limit)

    async def send_eof(self) -> None:
        await self.channel.send_eof()

    async def aclose(self) -> None:
        await self.channel.aclose()


async def test_a_silent_peer_is_lost_four_virtual_heartbeats_after_its_last_frame(
    remote_log: LogProbe,
) -> None:
    clock = VirtualClock()
    network = MemoryNetwork()
    a: NodeTransport = MemoryTransport(network, secret=SECRET, heartbeat=HEARTBEAT)
    b: NodeTransport = MemoryTransport(network, secret=SECRET, heartbeat=HEARTBEAT)
    probe = Probe()
    async with (
        ActorSystem("b", clock=clock, transport=b) as system_b,
        ActorSystem("a", clock=clock, transport=a) as system_a,
    ):
        await system_b.spawn(Idle, name="idle")
        peer = await a.connect(b.address or "")
        idle = await peer.lookup("idle")
        assert idle is not None
        watcher = await system_a.spawn(Watcher, probe, timed=True)
        assert await watcher.ask(idle) == "watching"
        assert a.node.links[b.node_id].heartbeat == HEARTBEAT
        # B's side of the link: what B sends to A goes through the tap.
        sealed = b.node.links[a.node_id].channel
        assert sealed is not None
        tap = Tap(sealed.channel, clock)
        sealed.channel = tap

        real_start, virtual_start = time.monotonic(), clock.now()
        # Quiet and healthy: heartbeats alone keep the link for 40 virtual seconds.
        await clock.advance(20 * HEARTBEATS_MISSED * HEARTBEAT)
        assert probe.events("terminated") == []
        assert await idle.ask("still linked") == "still linked"
        assert len(tap.sent) >= 20 * HEARTBEATS_MISSED  # B's heartbeats, in virtual time

        tap.silence()
        silenced_at = clock.now()
        last_frame = tap.sent[-1]
        # B sends a frame at least every heartbeat: its last came at most one before.
        assert silenced_at - HEARTBEAT <= last_frame <= silenced_at
        lost_at = last_frame + HEARTBEATS_MISSED * HEARTBEAT
        await clock.advance(lost_at - clock.now() - HEARTBEAT / 4)
        assert probe.events("terminated") == []  # not a moment too soon
        await clock.advance(HEARTBEAT / 2)
        [(_, when, error)] = probe.events("terminated")
        assert when == lost_at  # four heartbeats of virtual time after B's last frame
        assert isinstance(error, NodeLost)
        assert error.node == b.node_id
        assert b.node_id not in a.node.links
        real, virtual = time.monotonic() - real_start, clock.now() - virtual_start
        assert virtual > 20 * HEARTBEATS_MISSED * HEARTBEAT + 3 * HEARTBEAT
        assert real < REAL_BOUND
        assert real < virtual / 10
        assert f"no heartbeat from {b.node_id} within {HEARTBEATS_MISSED * HEARTBEAT:g} s" in (
            remote_log.lines
        )


async def test_a_handshake_that_gets_no_answer_times_out_in_virtual_time() -> None:
    clock = VirtualClock()
    transport: NodeTransport = MemoryTransport(MemoryNetwork(), secret=SECRET)
    async with ActorSystem("a", clock=clock, transport=transport):
        # A channel whose other end never says a word.
        send, unread = anyio.create_memory_object_stream[bytes](8)
        never, mute = anyio.create_memory_object_stream[bytes](8)
        channel = MemoryFrames(send, mute, "mute", transport.max_frame)
        failures: list[BaseException] = []

        async def dial() -> None:
            try:
                await transport.node.connect(channel)
            except AuthenticationError as error:
                failures.append(error)

        async with anyio.create_task_group() as group:
            group.start_soon(dial)
            real_start = time.monotonic()
            await clock.advance(4.9)
            assert failures == []
            await clock.advance(0.2)
            assert [str(error) for error in failures] == [
                "refused the link with mute: no handshake within 5 s"
            ]
        assert time.monotonic() - real_start < REAL_BOUND
        unread.close()
        never.close()


class SilentClient:
    """What `Inbox` needs of a nats-py client; every request it publishes is lost."""

    def __init__(self, clock: VirtualClock) -> None:
        self.clock = clock
        self.published: list[float] = []

    def new_inbox(self) -> str:
        return "_INBOX.test"

    async def subscribe(self, subject: str, **options: Any) -> None:
        return None

    async def publish(self, subject: str, data: bytes, **options: Any) -> None:
        self.published.append(self.clock.now())


async def test_a_nats_request_retries_and_gives_up_in_virtual_time() -> None:
    clock = VirtualClock()
    async with ActorSystem("a", clock=clock) as system:
        client = SilentClient(clock)
        inbox = Inbox(client, RefusalLog("a", clock=clock), system.timer_queue)  # type: ignore[arg-type]
        sealer = Sealer(SECRET, "actorlib", "lookup")
        outcome: list[BaseException] = []

        async def ask() -> None:
            try:
                await inbox.request(
                    "actorlib.lookup", sealer, "lookup", b"/user/x", limit=64, wait=2.0, per_try=0.5
                )
            except TimeoutError as error:
                outcome.append(error)

        async with anyio.create_task_group() as group:
            group.start_soon(ask)
            real_start = time.monotonic()
            await clock.advance(1.9)
            assert outcome == []
            await clock.advance(0.2)
            assert [str(error) for error in outcome] == ["no answer on actorlib.lookup within 2 s"]
        # A try every half second of virtual time, sealed anew each time.
        assert client.published == [0.0, 0.5, 1.0, 1.5]
        assert time.monotonic() - real_start < REAL_BOUND
