"""Every NATS link channel is closed, however its handshake ends: a cancelled dial, a stop."""

from __future__ import annotations

import anyio
import nats
import pytest

from actorlib import ActorSystem
from actorlib.remote import NatsTransport
from actorlib.remote._nats_connect import wait_subscribed
from actorlib.remote._nats_frames import NatsFrames
from tests.nats_server import NatsServer

from .conftest import SECRET

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # nats-py runs on asyncio only


class _Recording(NatsTransport):
    """A real NatsTransport that keeps every link channel it makes."""

    def __init__(self, url: str) -> None:
        super().__init__(url, secret=SECRET)
        self.channels: list[NatsFrames] = []

    def _channel(self, link: str, inbound: str, outbound: str, peer: str) -> NatsFrames:
        channel = super()._channel(link, inbound, outbound, peer)
        self.channels.append(channel)
        return channel


def _closed(channel: NatsFrames) -> bool:
    # Both ends of its queue: an open one is a ResourceWarning when collected.
    return bool(channel._send._closed and channel._receive._closed)


async def test_a_dial_cancelled_while_it_waits_for_an_answer_closes_its_channel(
    nats_server: NatsServer,
) -> None:
    # A subscriber that never answers: the dial waits (and asks again) for 2 s.
    silent = await nats.connect(nats_server.url)
    try:
        await silent.subscribe("actorlib.accept.silent-node")
        await wait_subscribed(silent)
        transport = _Recording(nats_server.url)
        async with ActorSystem("dialer", transport=transport):
            with anyio.move_on_after(0.3) as waited:
                await transport.connect("nats:silent-node")
            assert waited.cancelled_caught
            [channel] = transport.channels
            assert _closed(channel)
    finally:
        await silent.close()


async def test_a_dial_nobody_answers_is_an_oserror_and_closes_its_channel(
    nats_server: NatsServer,
) -> None:
    transport = _Recording(nats_server.url)
    async with ActorSystem("dialer", transport=transport):
        with pytest.raises(OSError, match="no node nobody-answers-here answers on NATS"):
            await transport.connect("nats:nobody-answers-here")
        assert transport.channels
        assert all(_closed(channel) for channel in transport.channels)
