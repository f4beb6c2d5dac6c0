"""The nats-py-compatible client of a simulated network, and its subscriptions; not the packets.

It is the part of nats-py's ``Client`` that actorlib.remote uses; it must
not know packets, channels, partitions or faults (those are the network's).
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any

import anyio
import anyio.lowlevel
import attrs

if TYPE_CHECKING:
    from ._network import SimulatedNetwork

logger = logging.getLogger("actorlib.testing")

# nats-server's default max_payload.
MAX_PAYLOAD = 1024 * 1024

Spawn = Callable[[Callable[[], Coroutine[Any, Any, None]]], None]


@attrs.define(eq=False)
class SimulatedMsg:
    """A message as a subscription's callback gets it (nats-py's ``Msg`` fields)."""

    subject: str
    reply: str
    data: bytes
    headers: dict[str, str] | None = None


class SimulatedSubscription:
    """One subscription of a `SimulatedClient`: its callback runs in a task of its own."""

    def __init__(
        self,
        client: SimulatedClient,
        subject: str,
        queue: str,
        cb: Callable[[SimulatedMsg], Awaitable[None]],
    ) -> None:
        self.client = client
        self.subject = subject
        self.queue = queue
        self._tokens = subject.split(".")
        self._cb = cb
        self._pending: deque[SimulatedMsg] = deque()
        self._wake: anyio.Event | None = None
        self.closed = False

    def __repr__(self) -> str:
        return f"<SimulatedSubscription {self.client.name} {self.subject!r}>"

    def matches(self, tokens: list[str]) -> bool:
        """Whether a subject (split in tokens) matches this subscription's, wildcards included."""
        mine = self._tokens
        for index, token in enumerate(mine):
            if token == ">":
                return len(tokens) > index
            if index >= len(tokens) or (token != "*" and token != tokens[index]):
                return False
        return len(tokens) == len(mine)

    def push(self, msg: SimulatedMsg) -> None:
        """Hand *msg* to the callback's task (it runs it after those before it)."""
        if self.closed:
            return
        self._pending.append(msg)
        wake, self._wake = self._wake, None
        if wake is not None:
            wake.set()

    async def run(self) -> None:
        """Run the callback on each message, in order, until unsubscribed."""
        while not self.closed:
            if not self._pending:
                self._wake = anyio.Event()
                await self._wake.wait()
                continue
            msg = self._pending.popleft()
            try:
                await self._cb(msg)
            except Exception:  # nats-py reports a failing callback and goes on
                logger.exception("a callback of %s on %r failed", self.client.name, self.subject)

    async def unsubscribe(self) -> None:
        """Stop receiving: what is in flight to this subscription is lost."""
        self.client.network.unsubscribe(self)
        await anyio.lowlevel.checkpoint()

    def close(self) -> None:
        """Stop the callback's task (from the network's side)."""
        self.closed = True
        self._pending.clear()
        wake, self._wake = self._wake, None
        if wake is not None:
            wake.set()


class SimulatedClient:
    """One node's connection to a `SimulatedNetwork`: what actorlib.remote uses of nats-py's Client.

    Args:
        network: the network.
        name: the node's name (its channels are named after it).
        spawn: starts a task for each subscription's callbacks (the node
            system's runtime, so that they end with it).
    """

    max_payload = MAX_PAYLOAD

    def __init__(self, network: SimulatedNetwork, name: str, spawn: Spawn) -> None:
        self.network = network
        self.name = name
        self._spawn = spawn
        self.subscriptions: list[SimulatedSubscription] = []
        self._inboxes = 0
        self._closed = False
        self.cut = False  # crashed: nothing it sends leaves, nothing reaches it
        self.options: dict[str, Any] = {}
        self.stats: dict[str, int] = {"reconnects": 0}

    def __repr__(self) -> str:
        return f"<SimulatedClient {self.name}{' closed' if self._closed else ''}>"

    @property
    def is_closed(self) -> bool:
        """Whether `close` (or `drain`) was called."""
        return self._closed

    @property
    def is_connected(self) -> bool:
        """Whether the client is open."""
        return not self._closed

    def new_inbox(self) -> str:
        """A subject of this client's own: ``_INBOX.<node>.<n>``."""
        self._inboxes += 1
        return f"_INBOX.{self.name}.{self._inboxes}"

    async def subscribe(
        self,
        subject: str,
        queue: str = "",
        cb: Callable[[SimulatedMsg], Awaitable[None]] | None = None,
        **options: object,
    ) -> SimulatedSubscription:
        """Receive the messages of *subject* (``*`` and ``>`` wildcards) with *cb*.

        Raises:
            ConnectionError: the client is closed.
            TypeError: no callback (iterating a subscription is not simulated).
        """
        self._check_open()
        if cb is None:
            raise TypeError("a simulated NATS subscription needs a callback (cb=...)")
        subscription = SimulatedSubscription(self, subject, queue, cb)
        self.subscriptions.append(subscription)
        self._spawn(subscription.run)
        await anyio.lowlevel.checkpoint()
        return subscription

    async def publish(
        self,
        subject: str,
        payload: bytes = b"",
        reply: str = "",
        headers: dict[str, str] | None = None,
    ) -> None:
        """Publish *payload* on *subject*; the schedule delivers it to each subscriber.

        Raises:
            ConnectionError: the client is closed.
            ValueError: the payload is over `max_payload`.
        """
        self._check_open()
        if len(payload) > self.max_payload:
            raise ValueError(f"nats: maximum payload exceeded ({len(payload)} bytes)")
        self.network.publish(self, SimulatedMsg(subject, reply, bytes(payload), headers))

    async def flush(self, timeout: float = 10.0) -> None:
        """Nothing to flush: a publish is in flight at once."""
        self._check_open()
        await anyio.lowlevel.checkpoint()

    async def drain(self) -> None:
        """Unsubscribe everything and close."""
        await self.close()

    async def close(self) -> None:
        """Close the connection (idempotent)."""
        if not self._closed:
            self._closed = True
            for subscription in list(self.subscriptions):
                self.network.unsubscribe(subscription)
        await anyio.lowlevel.checkpoint()

    def _check_open(self) -> None:
        if self._closed:
            raise ConnectionError("nats: connection closed")
