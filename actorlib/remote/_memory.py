"""The in-process transport: nodes in one process linked by memory streams (for tests)."""

from __future__ import annotations

import functools
import itertools
from typing import TYPE_CHECKING

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from ._base import NodeTransport, check_heartbeat
from ._errors import AuthenticationError, FrameTooLarge
from ._framing import DEFAULT_MAX_FRAME, FrameChannel
from ._serializer import Serializer

if TYPE_CHECKING:
    from actorlib import ActorSystem

_BUFFER = 64  # frames in flight per direction: a slow reader slows its writer


class MemoryFrames:
    """One end of an in-memory frame channel."""

    def __init__(
        self,
        send: MemoryObjectSendStream[bytes],
        receive: MemoryObjectReceiveStream[bytes],
        peer: str,
        max_frame: int,
    ) -> None:
        self._send = send
        self._receive = receive
        self.peer = peer
        self.max_frame = max_frame

    async def send_frame(self, frame: bytes) -> None:
        """Send one frame.

        Raises:
            FrameTooLarge: over the limit.
        """
        if len(frame) > self.max_frame:
            raise FrameTooLarge(size=len(frame), limit=self.max_frame, peer=self.peer)
        await self._send.send(frame)

    async def receive_frame(self, limit: int | None = None) -> bytes:
        """The next frame, refused if over *limit* (default `max_frame`).

        Raises:
            anyio.EndOfStream: the other end closed.
            FrameTooLarge: the frame is over the limit.
        """
        frame = await self._receive.receive()
        limit = self.max_frame if limit is None else limit
        if len(frame) > limit:
            raise FrameTooLarge(size=len(frame), limit=limit, peer=self.peer)
        return frame

    async def send_eof(self) -> None:
        """Send no more frames."""
        await self._send.aclose()

    async def aclose(self) -> None:
        """Close this end."""
        await self._send.aclose()
        await self._receive.aclose()


class MemoryNetwork:
    """Where memory transports find each other by address (one per test, not global)."""

    def __init__(self) -> None:
        self.nodes: dict[str, MemoryTransport] = {}
        self._numbers = itertools.count(1)

    def new_address(self) -> str:
        """A fresh ``memory:n`` address."""
        return f"memory:{next(self._numbers)}"


class MemoryTransport(NodeTransport):
    """Several systems in one process, linked through memory: the in-process transport.

    It runs the whole remote stack (handshake, serializer, batching, links)
    without sockets, which is what tests and the conformance suite want.

    Args:
        network: the `MemoryNetwork` the nodes share.
        secret: the cluster's shared secret.
        serializer: the serializer.
        max_frame: the largest frame, in bytes.
        node_id: this node's id.
        heartbeat: seconds between frames on an idle link; a link silent for
            four of them is lost (default None: none, as a stream in memory
            ends when its peer stops). Both read the system's Clock seam, so
            a test on a `VirtualClock` sees a silent peer lost in virtual time.

    Raises:
        TypeError: *network* is not a MemoryNetwork.
        ValueError: a heartbeat that is not a number of seconds > 0.
    """

    def __init__(
        self,
        network: MemoryNetwork,
        *,
        secret: bytes | str | None = None,
        serializer: Serializer | None = None,
        max_frame: int = DEFAULT_MAX_FRAME,
        node_id: str | None = None,
        heartbeat: float | None = None,
    ) -> None:
        super().__init__(secret=secret, serializer=serializer, max_frame=max_frame, node_id=node_id)
        if not isinstance(network, MemoryNetwork):
            raise TypeError(f"network must be a MemoryNetwork, got {network!r}")
        self.network = network
        self.heartbeat = check_heartbeat(heartbeat)
        self._system: ActorSystem | None = None

    async def start(self, system: ActorSystem) -> None:
        """Transport protocol: take an address on the network."""
        address = self.network.new_address()
        self._system = system
        node = self._make_node(system, address)
        node.heartbeat = self.heartbeat
        self.network.nodes[address] = self

    async def _dial(self, address: str) -> FrameChannel:
        server = self.network.nodes.get(address)
        if server is None or server._system is None:
            raise OSError(f"no node listens at {address}")
        ab_send, ab_receive = anyio.create_memory_object_stream[bytes](_BUFFER)
        ba_send, ba_receive = anyio.create_memory_object_stream[bytes](_BUFFER)
        mine = MemoryFrames(ab_send, ba_receive, address, self.max_frame)
        theirs = MemoryFrames(ba_send, ab_receive, self.node.address or "", server.max_frame)
        server._system._start_runtime_task(functools.partial(server._accept, theirs))
        return mine

    async def _accept(self, channel: MemoryFrames) -> None:
        try:
            link = await self.node.attach(channel, initiator=False)
        except AuthenticationError:
            return
        await link.run()

    async def stop(self) -> None:
        """Transport protocol: leave the network, close links."""
        if self._node is not None:
            self.network.nodes.pop(self._node.address or "", None)
        await super().stop()

    async def start_nodes(self, count: int) -> list[object]:  # type: ignore[override]
        """Worker processes need sockets: use `SocketTransport`.

        Raises:
            RuntimeError: always.
        """
        raise RuntimeError(
            "MemoryTransport links systems in one process and cannot start worker processes; "
            "use SocketTransport() for start_nodes()"
        )
