"""A fault in one message stays with it in worker processes too (issue 11)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest

from actorlib import Actor, ActorSystem
from actorlib.remote import FrameTooLarge, SocketTransport, WorkerNode
from actorlib.remote._framing import DEFAULT_MAX_FRAME

pytestmark = pytest.mark.anyio


class Maker(Actor):
    """Answers ("bytes", n) with n zero bytes, "pid" with its process id."""

    async def receive(self, message: object) -> object:
        match message:
            case ("bytes", int(size)):
                return bytes(size)
            case "pid":
                return os.getpid()
        return message


@pytest.fixture
async def workers() -> AsyncIterator[tuple[ActorSystem, WorkerNode]]:
    async with ActorSystem("origin", transport=SocketTransport()) as system:
        (node,) = await system.start_nodes(1)
        assert isinstance(node, WorkerNode)
        yield system, node


async def test_a_reply_over_the_limit_fails_its_ask_and_spares_the_worker_and_its_actors(
    workers: tuple[ActorSystem, WorkerNode],
) -> None:
    system, node = workers
    maker = await system.spawn(Maker, node=node, name="maker")
    bystander = await system.spawn(Maker, node=node, name="bystander")
    pid = await bystander.ask("pid")
    with pytest.raises(FrameTooLarge, match=f"over the limit of {DEFAULT_MAX_FRAME} bytes"):
        await maker.ask(("bytes", DEFAULT_MAX_FRAME + 1), timeout=30)
    assert await bystander.ask("pid") == pid == node.pid  # the same worker process
    assert await maker.ask(("bytes", 3)) == bytes(3)
