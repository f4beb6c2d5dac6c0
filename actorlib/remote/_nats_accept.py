"""Accepting link requests over NATS: checks, limits, handshakes; knows nothing of lookups."""

from __future__ import annotations

import functools
import json
import logging
import re
from collections.abc import Callable
from typing import TYPE_CHECKING

import anyio

from ._errors import AuthenticationError
from ._nats_frames import NatsFrames
from ._nats_inbox import open_request
from ._nats_sealed import Opened, RefusalLog, ReplayCache, Sealer

if TYPE_CHECKING:
    from nats.aio.msg import Msg

    from ._node import Node

logger = logging.getLogger("actorlib.remote")

_LINK_ID = re.compile(r"[0-9a-f]{16,64}")
NODE_ID = re.compile(r"[A-Za-z0-9_.\-]{1,200}")
# Link handshakes in progress, started from link requests; beyond: refused.
MAX_HANDSHAKES = 64
# Link ids remembered (within the freshness window) to answer a repeated request.
MAX_ACCEPTED = 4096


class LinkRequests:
    """The link requests a node accepts, and the handshakes they start.

    Args:
        sealer: the key of link requests and their answers.
        freshness: the transport's freshness window, in seconds.
        channel: makes the channel of a link (id, inbound, outbound, peer).
    """

    def __init__(
        self,
        sealer: Sealer,
        *,
        freshness: float,
        channel: Callable[[str, str, str, str], NatsFrames],
    ) -> None:
        self.sealer = sealer
        self.freshness = freshness
        self._channel = channel
        self._seen = ReplayCache()
        # Link ids accepted within the freshness window, with when to forget
        # them: a dialer that lost our answer asks again (with the same id).
        self._accepted: dict[str, float] = {}
        self._handshakes = 0
        # Accepted link channels not yet handed to the node (`_accept`): `close` closes them.
        self._unattached: set[NatsFrames] = set()

    async def accept(
        self, msg: Msg, subject: str, refusals: RefusalLog, node: Node
    ) -> Opened | None:
        """The link request in *msg*, its handshake started: to answer (None: refused, logged)."""
        opened = open_request(self.sealer, "link request", subject, msg, self._seen, refusals)
        if opened is None:
            return None
        try:
            hello = json.loads(opened.body)
            link, peer = hello["link"], hello["from"]
            if not (
                isinstance(link, str)
                and _LINK_ID.fullmatch(link)
                and isinstance(peer, str)
                and NODE_ID.fullmatch(peer)
            ):
                raise ValueError
        except (ValueError, KeyError, TypeError):
            # Authentic, so from a node of the cluster: a bug, or another version.
            refusals.refuse(subject, "a malformed link request")
            return None
        now = self.sealer.wall()
        for old in [old for old, until in self._accepted.items() if until < now]:
            del self._accepted[old]
        if link not in self._accepted:  # else a repeated request: the answer was lost
            if len(self._accepted) >= MAX_ACCEPTED or self._handshakes >= MAX_HANDSHAKES:
                refusals.refuse(
                    subject,
                    f"too many link requests at once ({self._handshakes} handshakes in "
                    f"progress, {len(self._accepted)} links requested within "
                    f"{self.freshness:g} s); the requester will ask again",
                )
                return None
            self._accepted[link] = now + self.freshness
            await self._start(self._channel(link, "a", "d", peer), node)
        return opened

    async def _start(self, channel: NatsFrames, node: Node) -> None:
        # Until `_accept` hands it to the node, the channel is closed by `close`
        # (a task cancelled at shutdown before its first step runs no code).
        self._unattached.add(channel)
        try:
            await channel.subscribe()
            node.system._start_runtime_task(functools.partial(self._accept, channel, node))
        except BaseException:
            self._unattached.discard(channel)
            with anyio.CancelScope(shield=True):
                await channel.aclose()
            raise
        self._handshakes += 1

    async def _accept(self, channel: NatsFrames, node: Node) -> None:
        self._unattached.discard(channel)
        try:
            # attach() closes the channel if the handshake fails (or times out).
            link = await node.attach(channel, initiator=False)
        except AuthenticationError as error:
            logger.warning("%s", error)
            return
        finally:
            self._handshakes -= 1
        await link.run()

    async def close(self) -> None:
        """Close the accepted channels not yet handed to the node."""
        unattached, self._unattached = self._unattached, set()
        for channel in unattached:
            await channel.aclose()
