"""Tells in doubt: what a lost link may or may not have delivered, settled by the peer.

When a link ends, the tells in frames the peer had not yet acknowledged may
have been delivered (the frame arrived, its acknowledgement did not) or not.
Making them all dead letters would report delivered tells as lost; dropping
them would lose tells silently. So they are held here, and the node links
with the peer again at once and asks it (RESUME_ASK) what it received on the
ended link. The peer stops reading that link if it still does (so its answer
is final) and answers with a RESUME: the last frame it received there. Tells
in frames up to that number were delivered and are forgotten; the rest are
dead letters. A tell is therefore
delivered or dead-lettered, never both, whenever the peer can be reached
again within `SETTLE_TIMEOUT`. When it cannot (its process died, its node
is gone, or this node is stopping), the held tells are dead letters: the
peer is gone, and so is anything it received.
"""

from __future__ import annotations

import functools
import logging
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

import anyio

from actorlib import ActorRef

from ._logsafe import loggable
from ._wire import RESUME, RESUME_ASK, Item

if TYPE_CHECKING:
    from ._link import Link
    from ._node import Node

logger = logging.getLogger("actorlib.remote")

# How long held tells wait for the peer to say what it received, and how
# often the node tries to link with it again meanwhile.
SETTLE_TIMEOUT = 10.0
RETRY_EVERY = 0.25
# A dial failing with these means nothing listens there: the peer is gone.
_GONE = (ConnectionRefusedError, FileNotFoundError)
# Links per peer whose last received frame is remembered for its RESUME.
_RECORDS_PER_PEER = 8
# Peers remembered at most (the oldest are forgotten first).
_PEERS = 10_000

# (message, recipient Target) per tell, and the frame it went in.
Letters = list[tuple[int, object, Any]]


class Doubts:
    """The tells in doubt of one node, and what it received on its ended links."""

    def __init__(self, node: Node) -> None:
        self.node = node
        # (peer, link id) -> the tells in frames the peer had not acknowledged.
        self._held: dict[tuple[str, bytes], Letters] = {}
        self._settled: dict[tuple[str, bytes], anyio.Event] = {}
        # peer -> {link id: last frame received on it}, for links that ended.
        self._received: OrderedDict[str, OrderedDict[bytes, int]] = OrderedDict()
        # peer -> the links running with it now (any direction).
        self._running: dict[str, set[Link]] = {}

    def in_doubt(self) -> int:
        """How many tells wait for their peer to say whether it received them."""
        return sum(len(letters) for letters in self._held.values())

    # ------------------------------------------------------------ links

    def link_started(self, link: Link) -> None:
        """A link with *link.peer* runs (either direction)."""
        self._running.setdefault(link.peer, set()).add(link)

    def link_ended(self, link: Link, letters: Letters) -> None:
        """*link* ended: remember what it received, hold what it may not have delivered."""
        running = self._running.get(link.peer)
        if running is not None:
            running.discard(link)
            if not running:
                del self._running[link.peer]
        channel = link.channel
        if channel is None:  # it never linked: nothing was sent or received
            self._dead_letters(letters)
            return
        link_id = channel.session.link_id
        self._remember(link)
        if not letters:
            return
        node = self.node
        if node.closing or link.address is None:
            self._dead_letters(letters)  # no next link to learn from
            return
        key = (link.peer, link_id)
        self._held[key] = letters
        self._settled[key] = anyio.Event()
        node.system._start_runtime_task(functools.partial(self._settle_or_expire, key, link))

    def _remember(self, link: Link) -> None:
        assert link.channel is not None
        records = self._received.setdefault(link.peer, OrderedDict())
        self._received.move_to_end(link.peer)
        records[link.channel.session.link_id] = link.received_seq
        while len(records) > _RECORDS_PER_PEER:
            records.popitem(last=False)
        while len(self._received) > _PEERS:
            self._received.popitem(last=False)

    async def _settle_or_expire(self, key: tuple[str, bytes], ended: Link) -> None:
        node = self.node
        clock = node.system.clock
        deadline = clock.now() + SETTLE_TIMEOUT
        settled = self._settled[key]
        # Link again at once and ask the peer what it received; while it
        # cannot be reached (a NATS server restarting), try again until the
        # deadline, unless nothing listens at its address any more (its
        # process is gone, and so is anything it received).
        while key in self._held and clock.now() < deadline:
            link = node.link_for(ended.peer, ended.address)
            if link is not None:
                link.enqueue((RESUME_ASK, key[1]), 64)
                await self._wait(settled, link, deadline)
                if link.closed and isinstance(link.error, _GONE):
                    break
            if key in self._held:
                await self._wait(settled, None, min(deadline, clock.now() + RETRY_EVERY))
        letters = self._held.pop(key, None)
        self._settled.pop(key, None)
        if letters:
            logger.info(
                "node %s could not learn what %s received before their link ended: "
                "%d tell(s) in doubt are dead letters",
                node.node_id,
                loggable(key[0]),
                len(letters),
            )
            self._dead_letters(letters)

    async def _wait(self, settled: anyio.Event, link: Link | None, until: float) -> None:
        """Until *settled* is set, *link* closes, or *until* (on the system's clock)."""
        clock = self.node.system.clock
        async with anyio.create_task_group() as group:

            async def wait_link_closed() -> None:
                assert link is not None
                await link.wait_closed()
                group.cancel_scope.cancel()

            async def wait_deadline() -> None:
                await clock.sleep_until(until)
                group.cancel_scope.cancel()

            if link is not None:
                group.start_soon(wait_link_closed)
            group.start_soon(wait_deadline)
            await settled.wait()
            group.cancel_scope.cancel()

    # ------------------------------------------------------------ items from peers

    def answer(self, link: Link, item: Item) -> None:
        """The peer's RESUME_ASK: say what this node received on the link it names."""
        _, link_id = item
        if type(link_id) is not bytes:
            raise TypeError("a link id is bytes")
        for running in list(self._running.get(link.peer, ())):
            channel = running.channel
            if running is not link and channel is not None and channel.session.link_id == link_id:
                # Its peer ended it: stop reading, so the number below is final.
                self._remember(running)
                running.close()
        records = self._received.get(link.peer)
        last = 0 if records is None else records.get(link_id, 0)  # unknown: none received
        link.enqueue((RESUME, link_id, last), 64)

    def resume(self, link: Link, item: Item) -> None:
        """The peer's RESUME: settle the tells held for the link it names."""
        _, link_id, last = item
        if type(link_id) is not bytes or type(last) is not int:
            raise TypeError("a RESUME is (RESUME, link id, last frame)")
        key = (link.peer, link_id)
        letters = self._held.pop(key, None)
        if letters is None:
            return  # settled already (or expired)
        self._dead_letters([letter for letter in letters if letter[0] > last])
        event = self._settled.pop(key, None)
        if event is not None:
            event.set()

    def _dead_letters(self, letters: Letters) -> None:
        system = self.node.system
        for _, message, recipient in letters:
            if recipient is not None:  # None: refused, a dead letter already
                system.dead_letter(message, ActorRef(recipient), None)
