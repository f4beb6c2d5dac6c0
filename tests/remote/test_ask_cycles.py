"""Ask cycles through another node are not detected (documented): they time out, crash nothing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import anyio
import pytest

from actorlib import Actor, ActorRef, ActorSystem, AskTimeout
from actorlib._cell import Cell
from actorlib.remote import MemoryNetwork, MemoryTransport, NodeTransport

from .conftest import SECRET

pytestmark = pytest.mark.anyio


@dataclass(frozen=True)
class Ask:
    """Ask *target* the *inner* message from the handler; answer with its reply."""

    target: ActorRef[Any]
    inner: object
    timeout: float


class Node(Actor):
    """Asks on request; answers "ping"."""

    async def receive(self, message: object) -> object:
        match message:
            case Ask(target, inner, timeout):
                return await target.ask(inner, timeout=timeout)
            case "ping":
                return "pong"
        return None


async def test_a_cycle_through_a_remote_ref_times_out_and_the_local_asks_into_it_just_wait() -> (
    None
):
    network = MemoryNetwork()
    transport_a: NodeTransport = MemoryTransport(network, secret=SECRET)
    transport_b: NodeTransport = MemoryTransport(network, secret=SECRET)
    async with (
        ActorSystem("b", transport=transport_b) as system_b,
        ActorSystem("a", transport=transport_a) as system_a,
    ):
        await system_b.spawn(Node, name="y")
        peer = await transport_a.connect(transport_b.address or "")
        y = await peer.lookup("y")
        assert y is not None
        x = await system_a.spawn(Node, name="x")
        z = await system_a.spawn(Node, name="z")
        results: list[object] = []

        async def ask_x() -> None:
            # x asks y on node b, whose handler asks x back: a cycle across
            # nodes, which nobody detects: the innermost ask times out.
            with pytest.raises(AskTimeout, match="/user/x"):
                await x.ask(Ask(y, Ask(x, "ping", timeout=0.2), timeout=10), timeout=10)
            results.append("x timed out")

        with anyio.fail_after(8):
            async with anyio.create_task_group() as group:
                group.start_soon(ask_x)
                while not cast(Cell, x._target).awaiting:
                    await anyio.wait_all_tasks_blocked()
                # z's ask waits on x, which waits on a remote ref: the search
                # for a cycle stops there, and the ask waits its turn.
                results.append(await z.ask(Ask(x, "ping", timeout=10)))
        assert results == ["x timed out", "pong"]
