"""A problem with one message stays with that message (issue 11), on every transport.

A full mailbox, an oversized reply, a refused type: each fails that one
message (a dead letter, or an error to its asker), never the link that
carried it, so an unrelated ask on the same link still gets its answer.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
import anyio.lowlevel
import attrs
import pytest

from actorlib import Actor, ActorSystem, DeadLetter, Mailbox, MailboxFull, Overflow
from actorlib.remote import (
    FrameTooLarge,
    NodeLost,
    RestrictedSerializer,
    SerializationError,
)
from actorlib.remote._wire import FRAME, TELL, encode_frame
from tests.helpers import Collector

from .pairs import TRANSPORTS, Pair, make_transport

pytestmark = pytest.mark.anyio

PairFactory = Callable[..., Any]


@pytest.fixture(params=TRANSPORTS)
def transport(request: pytest.FixtureRequest) -> str:
    """The kind of transport under test."""
    return str(request.param)


@pytest.fixture
async def make_pair(
    transport: str, request: pytest.FixtureRequest
) -> AsyncIterator[Callable[..., Any]]:
    """Start two linked nodes with per-node transport options; stop them at the end."""
    async with contextlib.AsyncExitStack() as stack:

        async def make(a: dict[str, Any] | None = None, b: dict[str, Any] | None = None) -> Pair:
            transport_b = make_transport(transport, request, **(b or {}))
            transport_a = make_transport(transport, request, **(a or {}))
            system_b = await stack.enter_async_context(ActorSystem("b", transport=transport_b))
            system_a = await stack.enter_async_context(ActorSystem("a", transport=transport_a))
            peer = await transport_a.connect(transport_b.address or "")
            return Pair(system_a, system_b, peer)

        yield make


class Gate(Actor):
    """Waits on its gate for "wait"; echoes anything else."""

    def __init__(self, gate: anyio.Event) -> None:
        self.gate = gate

    async def receive(self, message: object) -> object:
        if message == "wait":
            await self.gate.wait()
        return message


@attrs.frozen
class Unregistered:
    """A type that no restricted serializer in these tests accepts."""

    text: str


class Echo(Actor):
    """Answers every message with itself, or with what it is asked to make or raise."""

    async def receive(self, message: object) -> object:
        match message:
            case ("bytes", int(size)):
                return bytes(size)
            case ("unregistered", str(text)):
                return Unregistered(text)
            case ("raise", BaseException() as error):
                raise error
        return message


async def eventually(check: Callable[[], bool]) -> None:
    """Wait (5 s at most), letting the event loop run, until check() is true."""
    with anyio.fail_after(5):
        while not check():
            await anyio.lowlevel.checkpoint()


async def eventually_async(read: Callable[[], Any], check: Callable[[Any], bool]) -> None:
    """Wait (5 s at most) until check(await read()) is true."""
    with anyio.fail_after(5):
        while not check(await read()):
            await anyio.lowlevel.checkpoint()


async def test_a_remote_tell_into_a_full_mailbox_is_a_dead_letter_there_not_a_lost_link(
    make_pair: Callable[..., Any],
) -> None:
    pair: Pair = await make_pair()
    gate = anyio.Event()
    full = await pair.spawn_on_b(
        Gate, gate, name="full", mailbox=Mailbox(capacity=1, overflow=Overflow.FAIL)
    )
    echo = await pair.spawn_on_b(Echo, name="echo")
    letters = await pair.b.spawn(Collector, name="letters")
    pair.b.events.subscribe(letters, DeadLetter)
    local = pair.b.lookup("full")
    assert local is not None
    cell: Any = local._target
    try:
        full.tell("wait")  # taken: the handler waits on the gate
        await eventually(lambda: cell.current is not None)
        full.tell("queued")  # fills the one place
        full.tell("overflow")  # no room: a dead letter on B
        with anyio.fail_after(5):
            while not [x for x in await letters.ask("get") if x.message == "overflow"]:
                await anyio.lowlevel.checkpoint()
        (letter,) = [x for x in await letters.ask("get") if x.message == "overflow"]
        assert letter.recipient == local
        assert await echo.ask("still linked") == "still linked"
    finally:
        gate.set()
    assert await full.ask("after") == "after"


LIMIT = 64 * 1024


async def test_a_reply_over_the_frame_limit_fails_that_ask_with_frame_too_large(
    make_pair: Callable[..., Any],
) -> None:
    pair: Pair = await make_pair(a={"max_frame": LIMIT}, b={"max_frame": LIMIT})
    echo = await pair.spawn_on_b(Echo, name="echo")
    bystander = await pair.spawn_on_b(Collector, name="bystander")
    bystander.tell("before")
    with pytest.raises(FrameTooLarge, match=rf"over the limit of {LIMIT} bytes") as caught:
        await echo.ask(("bytes", 2 * LIMIT), timeout=5)
    assert caught.value.size > 2 * LIMIT
    assert caught.value.limit == LIMIT
    assert any("reply of /user/echo" in note for note in caught.value.__notes__)
    assert await echo.ask(("bytes", 10)) == bytes(10)  # the link lives on
    bystander.tell("after")
    assert await bystander.ask("get") == ["before", "after"]


async def test_a_reply_the_restricted_asker_refuses_fails_the_ask_even_without_timeout(
    make_pair: Callable[..., Any],
) -> None:
    restricted = {"serializer": RestrictedSerializer()}
    pair: Pair = await make_pair(a=restricted, b=restricted)
    echo = await pair.spawn_on_b(Echo, name="echo")
    with anyio.fail_after(5), pytest.raises(SerializationError, match="Unregistered"):
        await echo.ask(("unregistered", "x"), timeout=None)
    assert await echo.ask("still linked") == "still linked"


async def test_remote_errors_and_actorlib_errors_pass_a_restricted_serializer(
    make_pair: Callable[..., Any],
) -> None:
    restricted = {"serializer": RestrictedSerializer()}
    pair: Pair = await make_pair(a=restricted, b=restricted)
    echo = await pair.spawn_on_b(Echo, name="echo")
    errors = [
        NodeLost(node="n", path="/user/x"),
        FrameTooLarge(size=2, limit=1, peer="p"),
        SerializationError(what="w", problem="p"),
        MailboxFull(path="/user/x", capacity=3),
    ]
    for error in errors:
        with anyio.fail_after(5), pytest.raises(type(error)) as caught:
            await echo.ask(("raise", error))
        assert str(caught.value) == str(error)


async def test_send_to_a_node_that_refuses_the_message_raises_serialization_error(
    make_pair: Callable[..., Any],
) -> None:
    pair: Pair = await make_pair(b={"serializer": RestrictedSerializer()})
    echo = await pair.spawn_on_b(Echo, name="echo")
    with anyio.fail_after(5), pytest.raises(SerializationError, match="Unregistered"):
        await echo.send(Unregistered("x"))
    await echo.send("fine")
    assert await echo.ask("still linked") == "still linked"


async def test_a_tell_the_receiver_refuses_is_a_dead_letter_on_the_sending_node(
    make_pair: Callable[..., Any],
) -> None:
    pair: Pair = await make_pair(b={"serializer": RestrictedSerializer()})
    collector = await pair.spawn_on_b(Collector, name="collector")
    letters = await pair.a.spawn(Collector, name="letters")
    pair.a.events.subscribe(letters, DeadLetter)
    refused = Unregistered("refused")
    collector.tell("before")
    collector.tell(refused)
    collector.tell("after")
    assert await collector.ask("get") == ["before", "after"]
    with anyio.fail_after(5):
        while not (found := await letters.ask("get")):
            await anyio.lowlevel.checkpoint()
    assert [(x.message, x.recipient) for x in found] == [(refused, collector)]
    node: Any = pair.a.transport.node  # type: ignore[union-attr]
    link = node.links[pair.peer.node_id]
    await eventually(lambda: not link.unacked)  # the refused letter is not kept


async def test_after_a_remote_ask_whose_handler_raised_the_next_ask_is_answered(
    make_pair: Callable[..., Any],
) -> None:
    pair: Pair = await make_pair()
    echo = await pair.spawn_on_b(Echo, name="echo")
    for _ in range(3):  # within the default strategy's 3 restarts
        with pytest.raises(ValueError, match="on purpose"):
            await echo.ask(("raise", ValueError("on purpose")))
        assert await echo.ask("next") == "next"  # restarted by B's own supervisor
    stand_in = await pair.a.spawn(Echo, node=pair.peer, name="hosted")
    with pytest.raises(ValueError, match="on purpose"):
        await stand_in.ask(("raise", ValueError("on purpose")))
    assert await stand_in.ask("next") == "next"  # its owner's strategy restarted it


async def test_a_frame_numbered_out_of_step_is_refused_before_its_items(
    make_pair: Callable[..., Any],
) -> None:
    pair: Pair = await make_pair()
    collector = await pair.spawn_on_b(Collector, name="collector")
    node: Any = pair.a.transport.node  # type: ignore[union-attr]
    link = node.links[pair.peer.node_id]
    # Sealed frames arrive in order, so a header out of step is a faulty peer.
    ahead = encode_frame([(FRAME, link.received_seq + 2, 0), (TELL, "/user/x", 0, None, b"N")])
    with pytest.raises(SerializationError, match="does not follow"):
        link._take(ahead, node.dispatch, link.unacked)
    assert await collector.ask("get") == []


async def test_tells_a_lost_link_delivered_are_not_dead_letters_too(
    make_pair: Callable[..., Any],
) -> None:
    pair: Pair = await make_pair()
    await pair.b.spawn(Collector, name="collector")
    on_b = pair.b.lookup("/user/collector")
    assert on_b is not None
    collector = await pair.peer.lookup("collector")
    assert collector is not None
    node: Any = pair.a.transport.node  # type: ignore[union-attr]
    link = node.links[pair.peer.node_id]
    letters = await pair.a.spawn(Collector, name="letters")
    pair.a.events.subscribe(letters, DeadLetter)
    for i in range(50):
        collector.tell(i)
    # B has every tell, and A has not heard so yet: then the link is lost.
    await eventually_async(lambda: on_b.ask("get"), lambda seen: len(seen) == 50)
    assert link.unacked
    link.close()
    # A links again and asks B what it received: nothing is in doubt.
    await eventually(lambda: not node.doubts._held)
    assert await letters.ask("get") == []
    assert await collector.ask("get") == list(range(50))


async def test_tells_in_doubt_that_never_arrived_are_dead_letters_once(
    make_pair: Callable[..., Any],
) -> None:
    pair: Pair = await make_pair()
    collector = await pair.spawn_on_b(Collector, name="collector")
    node: Any = pair.a.transport.node  # type: ignore[union-attr]
    link = node.links[pair.peer.node_id]
    letters = await pair.a.spawn(Collector, name="letters")
    pair.a.events.subscribe(letters, DeadLetter)
    delivered_before = await collector.ask("get")
    assert delivered_before == []
    # Frames the peer never received: held as if sent, then the link is lost.
    link.unacked.append((link.sent_seq + 1, [("never-sent", collector._target)]))
    link.close()
    await eventually(lambda: not node.doubts._held)
    found = await letters.ask("get")
    assert [x.message for x in found] == ["never-sent"]
    assert await collector.ask("get") == []
